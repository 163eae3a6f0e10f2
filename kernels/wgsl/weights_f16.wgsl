// Weight loads for f16 matrices, the f16 path (only on adapters with `shader-f16`): f32 weights
// rounded to f16 once at upload (src/webgpu/matrix.ts), [rows, quads·4] padded like f32, half the
// bytes. Each quad is widened to f32 here, so every product and sum stays f32: the only error
// added is the weights' own rounding (≤ 2^-11 relative). src/webgpu/kernels.ts puts the
// `enable f16;` directive first in the module. Needs `w: WeightParams`.

@group(0) @binding(4) var<storage, read> wdata: array<vec4<f16>>;

fn load_quad(row: u32, quad: u32) -> vec4<f32> {
  return vec4<f32>(wdata[row * w.stride + quad]);
}
