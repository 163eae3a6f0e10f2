// gather_<fmt>: out[t, :] = W[ids[t], :] dequantised (the embedding lookup on the tied lm_head).
// Grid: (⌈quads / 64⌉, T); one thread per 4 columns.

struct WeightParams {
  rows: u32,
  cols: u32,
  quads: u32,
  stride: u32,
  groups: u32,
  group: u32,
}

@group(0) @binding(0) var<uniform> w: WeightParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let q = gid.x;
  let t = gid.y;
  if (q >= w.quads || t >= step.rows) { return; }
  let v = load_quad(ids[t], q);
  for (var i = 0u; i < 4u; i++) {
    let c = q * 4u + i;
    if (c < w.cols) { out[t * w.cols + c] = v[i]; }
  }
}
