// Shared by every Hymba WGSL kernel (prepended by src/webgpu/kernels.ts): the per-step uniform and
// the activations. Each kernel file declares its own bindings and parameters.

// What one dispatch processes; written once per forward step (src/webgpu/program.ts).
struct Step {
  rows: u32,  // T: rows this dispatch produces
  first: u32, // first input row it reads (the final norm reads only the last row for the lm_head)
  pos0: u32,  // packed position of the step's row 0 (spec §3.4: M + text tokens so far)
  rule: u32,  // 0: prefill window rule, 1: decode rule (src/window.ts)
}

const NO_LIMIT: u32 = 0xffffffffu;

fn silu(x: f32) -> f32 {
  return x / (1.0 + exp(-x));
}

// Rows of a 2-D grid: x counts up to num_workgroups.x, y continues it.
fn grid_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
}
