// Bindings and helpers shared by matvec.wgsl and matmul.wgsl: out[t, r] (+)= x[first + t, :] · W[r, :].

struct WeightParams {
  rows: u32,       // output features (rows of W)
  cols: u32,       // input features
  quads: u32,      // ⌈cols / 4⌉
  stride: u32,     // elements of wdata per row (vec4 for f32, u32 words for q8 / q4)
  groups: u32,     // scale groups per row (q8 / q4)
  group: u32,      // columns per scale group
  x_stride: u32,   // floats between rows of x
  x_offset: u32,   // first column of x read
  out_stride: u32, // floats between rows of out
  out_offset: u32,
  accumulate: u32, // 1: out += x·Wᵀ (residual connections), 0: out = x·Wᵀ
}

@group(0) @binding(0) var<uniform> w: WeightParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn x_at(t: u32, c: u32) -> f32 {
  if (c >= w.cols) { return 0.0; }
  return x[(step.first + t) * w.x_stride + w.x_offset + c];
}

fn x_quad(t: u32, quad: u32) -> vec4<f32> {
  let c = quad * 4u;
  return vec4<f32>(x_at(t, c), x_at(t, c + 1u), x_at(t, c + 2u), x_at(t, c + 3u));
}

fn store(t: u32, r: u32, value: f32) {
  let i = w.out_offset + t * w.out_stride + r;
  if (w.accumulate == 1u) { out[i] = out[i] + value; } else { out[i] = value; }
}
