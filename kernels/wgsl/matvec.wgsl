// matvec_<fmt>: one token (decode). One workgroup per output row; 64 threads stride over the row's
// quads and reduce in workgroup memory. Memory-bound: each weight is read once.

const WG: u32 = 64u;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = grid_index(wid, nwg);
  if (row >= w.rows) { return; }
  var acc = 0.0;
  for (var q = lid; q < w.quads; q += WG) {
    acc += dot(load_quad(row, q), x_quad(0u, q));
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { store(0u, row, partial[0]); }
}
