// causal_conv_f32 (spec §2.5, §3.4): depthwise causal conv + SiLU over the step's T rows, continuing
// from state [K, E] (the last K pre-conv inputs, oldest first), which is updated. One thread per
// channel walks the T rows with the window in registers.

struct ConvParams {
  channels: u32,    // E
  kernel: u32,      // K ≤ 8
  weight: u32,      // offset of conv weight [E, K] in `vectors`
  bias: u32,        // offset of the bias [E]
  has_bias: u32,
}

@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> u: array<f32>;            // [T, E]
@group(0) @binding(3) var<storage, read> vectors: array<f32>;
@group(0) @binding(4) var<storage, read_write> state: array<f32>;  // [K, E]
@group(0) @binding(5) var<storage, read_write> out: array<f32>;    // [T, E]

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  let E = p.channels;
  let K = p.kernel;
  if (e >= E) { return; }
  var window: array<f32, 8>;
  for (var k = 0u; k < K; k++) { window[k] = state[k * E + e]; }
  var bias = 0.0;
  if (p.has_bias == 1u) { bias = vectors[p.bias + e]; }
  for (var t = 0u; t < step.rows; t++) {
    for (var k = 0u; k + 1u < K; k++) { window[k] = window[k + 1u]; }
    window[K - 1u] = u[t * E + e];
    var acc = bias;
    for (var k = 0u; k < K; k++) { acc += vectors[p.weight + e * K + k] * window[k]; }
    out[t * E + e] = silu(acc);
  }
  for (var k = 0u; k < K; k++) { state[k * E + e] = window[k]; }
}
