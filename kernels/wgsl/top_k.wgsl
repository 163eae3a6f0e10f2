// top_k_f32: the k largest logits of one row, largest first (ties: the lower id first, as
// src/sampling.ts argmax and topIds), and log Σ exp over the row, so a sampler weighs the k
// candidates exactly without reading the other V − k logits back. With `feed`, the best id also
// becomes ids[0], the next step's input token: greedy decoding chains steps on the GPU (issue 6,
// per-token fixed cost). One workgroup of 256 threads: k rounds of a strided scan below the previous
// pick and a tree reduction, then one pass for Σ exp(logit − max).

struct PickParams {
  vocab: u32, // V
  k: u32,
  slot: u32,  // record written: picks[slot·(2k + 1) …]
  feed: u32,  // 1: ids[0] ← the best id
}

@group(0) @binding(0) var<uniform> p: PickParams;
@group(0) @binding(1) var<uniform> step: Step;                        // the lm_head's: its last row is read
@group(0) @binding(2) var<storage, read> logits: array<f32>;          // [rows, V]
@group(0) @binding(3) var<storage, read_write> picks: array<u32>;     // per slot: ids [k], values [k] (f32 bits), log Σ exp (f32 bits)
@group(0) @binding(4) var<storage, read_write> ids: array<u32>;       // the step's input tokens

const WG: u32 = 256u;
const NONE: u32 = 0xffffffffu;
var<workgroup> best_value: array<f32, WG>;
var<workgroup> best_id: array<u32, WG>;
var<workgroup> sums: array<f32, WG>;

// (v, i) ranks before (u, j): larger value, then lower id; NONE ranks last.
fn before(v: f32, i: u32, u: f32, j: u32) -> bool {
  return i != NONE && (j == NONE || v > u || (v == u && i < j));
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  let base = (step.rows - 1u) * p.vocab;
  let out = p.slot * (2u * p.k + 1u);
  var prev_value = 0.0;
  var prev_id = NONE;
  var top = 0.0; // the row's max, from round 0
  for (var r = 0u; r < p.k; r++) {
    var value = -3.402823e38;
    var id = NONE;
    for (var i = lid; i < p.vocab; i += WG) {
      let v = logits[base + i];
      let below = prev_id == NONE || v < prev_value || (v == prev_value && i > prev_id);
      if (below && before(v, i, value, id)) {
        value = v;
        id = i;
      }
    }
    best_value[lid] = value;
    best_id[lid] = id;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
      if (lid < s && before(best_value[lid + s], best_id[lid + s], best_value[lid], best_id[lid])) {
        best_value[lid] = best_value[lid + s];
        best_id[lid] = best_id[lid + s];
      }
      workgroupBarrier();
    }
    prev_value = best_value[0];
    prev_id = best_id[0];
    if (r == 0u) { top = prev_value; }
    if (lid == 0u) {
      picks[out + r] = prev_id;
      picks[out + p.k + r] = bitcast<u32>(prev_value);
      if (r == 0u && p.feed == 1u) { ids[0] = prev_id; }
    }
    workgroupBarrier(); // every thread has read round r's winner before round r + 1 overwrites it
  }
  var sum = 0.0;
  for (var i = lid; i < p.vocab; i += WG) { sum += exp(logits[base + i] - top); }
  sums[lid] = sum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { sums[lid] += sums[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { picks[out + 2u * p.k] = bitcast<u32>(top + log(sums[0])); }
}
