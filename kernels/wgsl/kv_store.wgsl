// kv_store_f32 (spec §3.2, src/state.ts KvCache.write): after every layer of a step has attended,
// the step's keys/values go into the producer's cache. Meta rows (pos < M) and every row of a global
// cache go to slot pos; text token pos of a sliding cache to ring slot M + (pos − M) mod W, and
// only the last W of the step are written. Grid: (⌈(max(kw, vw) + 1) / 64⌉, T).

struct StoreParams {
  key_width: u32,   // nkv·hd
  value_width: u32, // nkv·vd
  meta_tokens: u32,       // M
  window: u32,      // W
  sliding: u32,
}

@group(0) @binding(0) var<uniform> p: StoreParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> step_k: array<f32>;
@group(0) @binding(3) var<storage, read> step_v: array<f32>;
@group(0) @binding(4) var<storage, read_write> cache_k: array<f32>;
@group(0) @binding(5) var<storage, read_write> cache_v: array<f32>;
@group(0) @binding(6) var<storage, read_write> cache_pos: array<i32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let t = gid.y;
  if (t >= step.rows) { return; }
  let pos = step.pos0 + t;
  let end = step.pos0 + step.rows;
  var slot = pos;
  if (p.sliding == 1u && pos >= p.meta_tokens) {
    if (pos + p.window < end) { return; } // overwritten later in this step
    slot = p.meta_tokens + (pos - p.meta_tokens) % p.window;
  }
  if (c < p.key_width) { cache_k[slot * p.key_width + c] = step_k[t * p.key_width + c]; }
  if (c < p.value_width) { cache_v[slot * p.value_width + c] = step_v[t * p.value_width + c]; }
  if (c == 0u) { cache_pos[slot] = i32(pos); }
}
