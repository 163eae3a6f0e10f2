// rmsnorm_f32 (spec §2.2): out[t, :] = weight ⊙ (x · rsqrt(mean(x²) + eps)) for the rows
// first + t of x, with strides and offsets so a column block ([dt | B | C], spec §2.5) can be
// normalised on its own. One workgroup per row.

struct NormParams {
  dim: u32,
  in_stride: u32,
  in_offset: u32,
  out_stride: u32,
  out_offset: u32,
  weight_offset: u32, // into `vectors`
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: NormParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> vectors: array<f32>;

const WG: u32 = 64u;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = grid_index(wid, nwg);
  if (t >= step.rows) { return; }
  let base = (step.first + t) * p.in_stride + p.in_offset;
  var sum = 0.0;
  for (var i = lid; i < p.dim; i += WG) { sum += x[base + i] * x[base + i]; }
  partial[lid] = sum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  let inv = 1.0 / sqrt(partial[0] / f32(p.dim) + p.eps);
  let dst = t * p.out_stride + p.out_offset;
  for (var i = lid; i < p.dim; i += WG) { out[dst + i] = vectors[p.weight_offset + i] * (x[base + i] * inv); }
}
