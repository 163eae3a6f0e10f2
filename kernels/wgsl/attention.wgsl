// attention_f32 (spec §2.4, §3.2–3.3): softmax(q·kᵀ / sqrt(hd)) · v for each query row and head,
// over the keys of the producer's cache as it was before this step (meta rows, then a ring of W for
// sliding producers, or all rows for global ones; `cache_pos` holds each slot's packed position)
// followed by the step's own keys. Visible: kpos ≤ qpos AND (kpos < M OR qpos − kpos ≤ span), with
// span from src/window.ts. One workgroup per (head, query); 64 keys per tile with an online
// softmax, each thread owning up to 4 of the vd output columns.

struct AttnParams {
  heads: u32,
  kv_heads: u32,
  head_dim: u32,
  value_dim: u32,
  meta_tokens: u32,           // M
  window: u32,          // W (ring size of a sliding producer)
  producer_sliding: u32, // the cache is a ring (1) or grows (0)
  prefill_span: u32,    // span under the prefill rule (this layer's window), NO_LIMIT = global
  decode_span: u32,     // span under the decode rule (the producer's window)
  scale: f32,           // 1 / sqrt(hd)
}

@group(0) @binding(0) var<uniform> p: AttnParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> q: array<f32>;          // [T, nh·hd]
@group(0) @binding(3) var<storage, read> cache_k: array<f32>;    // [slots, nkv·hd]
@group(0) @binding(4) var<storage, read> cache_v: array<f32>;    // [slots, nkv·vd]
@group(0) @binding(5) var<storage, read> cache_pos: array<i32>;  // [slots]
@group(0) @binding(6) var<storage, read> step_k: array<f32>;     // [T, nkv·hd]
@group(0) @binding(7) var<storage, read> step_v: array<f32>;     // [T, nkv·vd]
@group(0) @binding(8) var<storage, read_write> out: array<f32>;  // [T, nh·vd]

const WG: u32 = 64u;
const MAX_HEAD_DIM: u32 = 256u;
var<workgroup> qs: array<f32, MAX_HEAD_DIM>;
var<workgroup> scores: array<f32, WG>;

// Rows the cache held before this step (src/state.ts KvCache.write).
fn cached_rows() -> u32 {
  let pos0 = step.pos0;
  if (p.producer_sliding == 0u || pos0 <= p.meta_tokens) { return pos0; }
  return p.meta_tokens + min(pos0 - p.meta_tokens, p.window);
}

fn visible(qpos: u32, kpos: u32, span: u32) -> bool {
  return kpos <= qpos && (kpos < p.meta_tokens || span == NO_LIMIT || qpos - kpos <= span);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let t = wid.y;
  if (t >= step.rows) { return; }
  let hd = p.head_dim;
  let vd = p.value_dim;
  let kvh = h / (p.heads / p.kv_heads);
  let qpos = step.pos0 + t;
  var span = p.decode_span;
  if (step.rule == 0u) { span = p.prefill_span; }
  for (var d = lid; d < hd; d += WG) { qs[d] = q[(t * p.heads + h) * hd + d]; }
  workgroupBarrier();

  let cached = cached_rows();
  let keys = cached + t + 1u; // the step's keys after t are in the future
  var m = -3.402823e38;       // running max (finite: exp(m_old − m_new) stays defined)
  var l = 0.0;                // running Σ exp
  var acc = vec4<f32>(0.0);   // output columns lid, lid + 64, lid + 128, lid + 192
  for (var tile = 0u; tile < keys; tile += WG) {
    let s = tile + lid;
    var score = -3.402823e38;
    var seen = false;
    if (s < keys) {
      var kpos: u32;
      var kbase: u32;
      if (s < cached) {
        kpos = u32(cache_pos[s]);
        kbase = (s * p.kv_heads + kvh) * hd;
      } else {
        kpos = step.pos0 + s - cached;
        kbase = ((s - cached) * p.kv_heads + kvh) * hd;
      }
      if (visible(qpos, kpos, span)) {
        var qk = 0.0;
        if (s < cached) {
          for (var d = 0u; d < hd; d++) { qk += qs[d] * cache_k[kbase + d]; }
        } else {
          for (var d = 0u; d < hd; d++) { qk += qs[d] * step_k[kbase + d]; }
        }
        score = qk * p.scale;
        seen = true;
      }
    }
    scores[lid] = select(-3.402823e38, score, seen);
    workgroupBarrier();
    var tile_max = -3.402823e38;
    for (var j = 0u; j < WG; j++) { tile_max = max(tile_max, scores[j]); }
    workgroupBarrier();
    scores[lid] = select(0.0, exp(score - max(m, tile_max)), seen);
    workgroupBarrier();
    let m_new = max(m, tile_max);
    let correction = exp(m - m_new);
    var sum = 0.0;
    var tile_acc = vec4<f32>(0.0);
    for (var j = 0u; j < WG; j++) {
      let weight = scores[j];
      sum += weight;
      let s2 = tile + j;
      if (weight != 0.0) {
        for (var i = 0u; i < 4u; i++) {
          let d = lid + i * WG;
          if (d < vd) {
            if (s2 < cached) {
              tile_acc[i] += weight * cache_v[(s2 * p.kv_heads + kvh) * vd + d];
            } else {
              tile_acc[i] += weight * step_v[((s2 - cached) * p.kv_heads + kvh) * vd + d];
            }
          }
        }
      }
    }
    l = l * correction + sum;
    acc = acc * correction + tile_acc;
    m = m_new;
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let d = lid + i * WG;
    if (d < vd) { out[(t * p.heads + h) * vd + d] = acc[i] / l; }
  }
}
