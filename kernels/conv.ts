// Depthwise causal conv + SiLU over T steps, continuing from a conv state (spec §2.5, §3.4).
// Owns: causal_conv_silu_f32.
// Must not import: anything but ./simd.
import { silu1, silu4 } from './simd'

/**
 * K = 4 (every Hymba config) for the 4 channels from e: their 4×4 weight block [channel, tap] is
 * transposed in registers to one vector per tap, then each step is one pass: SiLU(bias + Σ_k
 * tap_k ⊙ input) with the sums in the generic path's order, so the results are the same.
 */
// @ts-ignore: decorator
@inline function block4(out: usize, x: usize, state: usize, weight: usize, bias: usize, T: i32, E: i32, e: i32): void {
  const w = weight + (<usize>e << 4)
  const r0 = v128.load(w)
  const r1 = v128.load(w, 16)
  const r2 = v128.load(w, 32)
  const r3 = v128.load(w, 48)
  const lo01 = i32x4.shuffle(r0, r1, 0, 4, 1, 5)
  const lo23 = i32x4.shuffle(r2, r3, 0, 4, 1, 5)
  const hi01 = i32x4.shuffle(r0, r1, 2, 6, 3, 7)
  const hi23 = i32x4.shuffle(r2, r3, 2, 6, 3, 7)
  const w0 = i32x4.shuffle(lo01, lo23, 0, 1, 4, 5)
  const w1 = i32x4.shuffle(lo01, lo23, 2, 3, 6, 7)
  const w2 = i32x4.shuffle(hi01, hi23, 0, 1, 4, 5)
  const w3 = i32x4.shuffle(hi01, hi23, 2, 3, 6, 7)
  const b = bias != 0 ? v128.load(bias + (<usize>e << 2)) : f32x4.splat(0)
  const rowBytes = <usize>E << 2
  const col = <usize>e << 2
  for (let t = 0; t < T; t++) {
    // input index i = t − 3 + k; i < 0 reads state row 4 + i
    const i0 = t - 3
    const s0 = (i0 >= 0 ? x + <usize>i0 * rowBytes : state + <usize>(4 + i0) * rowBytes) + col
    const s1 = (i0 + 1 >= 0 ? x + <usize>(i0 + 1) * rowBytes : state + <usize>(5 + i0) * rowBytes) + col
    const s2 = (i0 + 2 >= 0 ? x + <usize>(i0 + 2) * rowBytes : state + <usize>(6 + i0) * rowBytes) + col
    const s3 = x + <usize>t * rowBytes + col
    let o = f32x4.add(b, f32x4.mul(w0, v128.load(s0)))
    o = f32x4.add(o, f32x4.mul(w1, v128.load(s1)))
    o = f32x4.add(o, f32x4.mul(w2, v128.load(s2)))
    o = f32x4.add(o, f32x4.mul(w3, v128.load(s3)))
    v128.store(out + <usize>t * rowBytes + col, silu4(o))
  }
}

/**
 * out[t, e] = SiLU(bias[e] + Σ_k w[e, k] · window_t[k, e]); window_t = the K inputs ending at x[t],
 * taken from state [K, E] (the last K pre-conv inputs, oldest first) before x begins. The state is
 * then replaced by the last K inputs (spec §3.5: K, not K − 1). weightT: f32[K, E] scratch for the
 * transposed weight [E, K] (channels the K = 4 blocks do not cover); bias = 0 when absent.
 */
export function causal_conv_silu_f32(
  out: usize, x: usize, state: usize, weight: usize, bias: usize,
  T: i32, E: i32, K: i32, weightT: usize,
): void {
  const rowBytes = <usize>E << 2
  let e0 = 0 // channels from e0 on take the generic path
  if (K == 4) for (; e0 + 4 <= E; e0 += 4) block4(out, x, state, weight, bias, T, E, e0)
  for (let e = e0; e < E; e++) {
    for (let k = 0; k < K; k++) {
      store<f32>(weightT + <usize>k * rowBytes + (<usize>e << 2), load<f32>(weight + (<usize>(e * K + k) << 2)))
    }
  }
  const vec = e0 + ((E - e0) & ~3)
  const first = <usize>e0 << 2
  for (let t = 0; t < T; t++) {
    const o = out + <usize>t * rowBytes
    if (bias != 0) memory.copy(o + first, bias + first, rowBytes - first)
    else memory.fill(o + first, 0, rowBytes - first)
    for (let k = 0; k < K; k++) {
      const i = t - (K - 1) + k // input index; < 0 reads the state
      const src = i >= 0 ? x + <usize>i * rowBytes : state + <usize>(K + i) * rowBytes
      const wk = weightT + <usize>k * rowBytes
      let e = e0
      for (; e < vec; e += 4) {
        const b = <usize>e << 2
        v128.store(o + b, f32x4.add(v128.load(o + b), f32x4.mul(v128.load(wk + b), v128.load(src + b))))
      }
      for (; e < E; e++) {
        const b = <usize>e << 2
        store<f32>(o + b, load<f32>(o + b) + load<f32>(wk + b) * load<f32>(src + b))
      }
    }
    let e = e0
    for (; e < vec; e += 4) v128.store(o + (<usize>e << 2), silu4(v128.load(o + (<usize>e << 2))))
    for (; e < E; e++) store<f32>(o + (<usize>e << 2), silu1(load<f32>(o + (<usize>e << 2))))
  }
  // state ← the last K rows of [state; x]
  if (T >= K) {
    memory.copy(state, x + <usize>(T - K) * rowBytes, <usize>K * rowBytes)
  } else {
    memory.copy(state, state + <usize>T * rowBytes, <usize>(K - T) * rowBytes)
    memory.copy(state + <usize>(K - T) * rowBytes, x, <usize>T * rowBytes)
  }
}
