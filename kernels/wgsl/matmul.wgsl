// matmul_<fmt>: several tokens (prefill, append). Tiles of 64 tokens × 64 weight rows, 16 columns
// deep, through workgroup memory; each of the 256 threads owns 4 × 4 outputs. Quantised weights are
// dequantised while the tile is loaded, so each is expanded once per 64 tokens.

const TM: u32 = 64u; // tokens per tile
const TN: u32 = 64u; // weight rows per tile
const TK: u32 = 16u; // columns per step

var<workgroup> xs: array<f32, 1024>;      // [TM, TK]
var<workgroup> ws: array<vec4<f32>, 256>; // [TN, TK / 4]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let n0 = wid.x * TN;
  let t0 = wid.y * TM;
  var acc: array<vec4<f32>, 4>; // acc[i][j]: token t0 + 4·lid.y + i, row n0 + 4·lid.x + j
  let tiles = (w.cols + TK - 1u) / TK;
  for (var kt = 0u; kt < tiles; kt++) {
    let wr = n0 + li / 4u;
    let wq = kt * 4u + li % 4u;
    var wv = vec4<f32>(0.0);
    if (wr < w.rows && wq < w.quads) { wv = load_quad(wr, wq); }
    ws[li] = wv;
    for (var i = 0u; i < 4u; i++) {
      let e = li + i * 256u;
      let t = t0 + e / TK;
      var xv = 0.0;
      if (t < step.rows) { xv = x_at(t, kt * TK + e % TK); }
      xs[e] = xv;
    }
    workgroupBarrier();
    for (var kq = 0u; kq < 4u; kq++) {
      var a: array<vec4<f32>, 4>;
      for (var i = 0u; i < 4u; i++) {
        let base = (lid.y * 4u + i) * TK + kq * 4u;
        a[i] = vec4<f32>(xs[base], xs[base + 1u], xs[base + 2u], xs[base + 3u]);
      }
      for (var j = 0u; j < 4u; j++) {
        let b = ws[(lid.x * 4u + j) * 4u + kq];
        for (var i = 0u; i < 4u; i++) { acc[i][j] += dot(a[i], b); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let t = t0 + lid.y * 4u + i;
    for (var j = 0u; j < 4u; j++) {
      let r = n0 + lid.x * 4u + j;
      if (t < step.rows && r < w.rows) { store(t, r, acc[i][j]); }
    }
  }
}
