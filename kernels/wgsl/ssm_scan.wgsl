// ssm_scan_f32 (spec §2.5, §3.4): the selective scan over the step's T rows, continuing from state
// [E, N] (updated): Δ = softplus20(dt + dt_bias); s = exp(Δ·A) ⊙ s + (Δ·u) ⊗ B; y = (s·C + D ⊙ u) ⊙
// SiLU(z). Sequential in time: one thread per channel keeps its N states in registers; prefill
// parallelism comes from the E channels.

struct ScanParams {
  channels: u32, // E
  state_dim: u32, // N ≤ 64
  bc_stride: u32, // floats per row of the normed x_proj output [T, R + 2N]
  b_offset: u32,  // R
  c_offset: u32,  // R + N
  dt_bias: u32,   // offsets into `vectors`: dt_proj bias [E], A = −exp(A_log) [E, N], D [E]
  a: u32,
  d: u32,
}

@group(0) @binding(0) var<uniform> p: ScanParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> u: array<f32>;   // conv output [T, E]
@group(0) @binding(3) var<storage, read> dt: array<f32>;  // [T, E], before the bias
@group(0) @binding(4) var<storage, read> bc: array<f32>;  // [T, R + 2N]
@group(0) @binding(5) var<storage, read> z: array<f32>;   // [T, E]
@group(0) @binding(6) var<storage, read> vectors: array<f32>;
@group(0) @binding(7) var<storage, read_write> state: array<f32>; // [E, N]
@group(0) @binding(8) var<storage, read_write> out: array<f32>;   // [T, E]

fn softplus20(x: f32) -> f32 {
  if (x > 20.0) { return x; }
  return log(1.0 + exp(x));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  let E = p.channels;
  let N = p.state_dim;
  if (e >= E) { return; }
  var s: array<f32, 64>;
  for (var n = 0u; n < N; n++) { s[n] = state[e * N + n]; }
  let bias = vectors[p.dt_bias + e];
  let D = vectors[p.d + e];
  for (var t = 0u; t < step.rows; t++) {
    let i = t * E + e;
    let delta = softplus20(dt[i] + bias);
    let du = delta * u[i];
    let row = t * p.bc_stride;
    var y = 0.0;
    for (var n = 0u; n < N; n++) {
      s[n] = exp(delta * vectors[p.a + e * N + n]) * s[n] + du * bc[row + p.b_offset + n];
      y += s[n] * bc[row + p.c_offset + n];
    }
    out[i] = (y + D * u[i]) * silu(z[i]);
  }
  for (var n = 0u; n < N; n++) { state[e * N + n] = s[n]; }
}
