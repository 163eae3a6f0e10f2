// norm_mean_f32, the fusion of spec §2.6: attn[t, :] ← (norm1(attn[t, :]) + norm2(ssm[t, :])) / 2,
// both RMSNorms over E with their own weights. One workgroup per row, in place on attn.

struct FuseParams {
  dim: u32,
  attn_weight: u32, // offsets into `vectors`
  ssm_weight: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: FuseParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> ssm: array<f32>;
@group(0) @binding(3) var<storage, read_write> attn: array<f32>;
@group(0) @binding(4) var<storage, read> vectors: array<f32>;

const WG: u32 = 64u;
var<workgroup> partial: array<vec2<f32>, WG>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = grid_index(wid, nwg);
  if (t >= step.rows) { return; }
  let base = t * p.dim;
  var sums = vec2<f32>(0.0);
  for (var i = lid; i < p.dim; i += WG) {
    let v = vec2<f32>(attn[base + i], ssm[base + i]);
    sums += v * v;
  }
  partial[lid] = sums;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  let inv = vec2<f32>(1.0) / sqrt(partial[0] / f32(p.dim) + vec2<f32>(p.eps));
  for (var i = lid; i < p.dim; i += WG) {
    let a = vectors[p.attn_weight + i] * (attn[base + i] * inv.x);
    let b = vectors[p.ssm_weight + i] * (ssm[base + i] * inv.y);
    attn[base + i] = (a + b) / 2.0;
  }
}
