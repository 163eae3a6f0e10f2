// split_rope_f32 (spec §2.3–2.4): splits the in_proj output [T, q|k|v|x|z] into q, the step's
// keys and values (producers only), the Mamba input u and the gate z, applying RoPE (rotate_half:
// pairs j, j + hd/2) to q and k with the angles of the step's positions. `rope` holds
// (cos, sin)[t, j], computed on the CPU as the reference rounds them. Grid: (⌈total / 64⌉, T).

struct SplitParams {
  q: u32,     // widths of the column blocks (k = v = 0 for KV consumers)
  k: u32,
  v: u32,
  inner: u32, // E: width of x and of z
  head_dim: u32,
  rotate: u32, // 1 when the config has RoPE
}

@group(0) @binding(0) var<uniform> p: SplitParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> proj: array<f32>;
@group(0) @binding(3) var<storage, read> rope: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read_write> q: array<f32>;
@group(0) @binding(5) var<storage, read_write> u: array<f32>;
@group(0) @binding(6) var<storage, read_write> z: array<f32>;
@group(0) @binding(7) var<storage, read_write> keys: array<f32>;
@group(0) @binding(8) var<storage, read_write> values: array<f32>;

// Element c of a rotated block starting at `start` in row `row`.
fn rotated(row: u32, start: u32, c: u32, t: u32) -> f32 {
  let hd = p.head_dim;
  let half = hd / 2u;
  let i = row + start + c;
  if (p.rotate == 0u) { return proj[i]; }
  let d = c % hd;
  let cs = rope[t * half + d % half];
  if (d < half) { return proj[i] * cs.x - proj[i + half] * cs.y; }
  return proj[i] * cs.x + proj[i - half] * cs.y;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let t = gid.y;
  let total = p.q + p.k + p.v + 2u * p.inner;
  if (c >= total || t >= step.rows) { return; }
  let row = t * total;
  if (c < p.q) {
    q[t * p.q + c] = rotated(row, 0u, c, t);
  } else if (c < p.q + p.k) {
    keys[t * p.k + c - p.q] = rotated(row, p.q, c - p.q, t);
  } else if (c < p.q + p.k + p.v) {
    values[t * p.v + c - p.q - p.k] = proj[row + c];
  } else if (c < p.q + p.k + p.v + p.inner) {
    u[t * p.inner + c - p.q - p.k - p.v] = proj[row + c];
  } else {
    z[t * p.inner + c - p.q - p.k - p.v - p.inner] = proj[row + c];
  }
}
