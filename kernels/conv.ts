// Depthwise causal conv + SiLU over T steps, continuing from a conv state (spec §2.5, §3.4).
// Owns: causal_conv_silu_f32.
// Must not import: anything but ./simd.
import { silu1, silu4 } from './simd'

/**
 * out[t, e] = SiLU(bias[e] + Σ_k w[e, k] · window_t[k, e]); window_t = the K inputs ending at x[t],
 * taken from state [K, E] (the last K pre-conv inputs, oldest first) before x begins. The state is
 * then replaced by the last K inputs (spec §3.5: K, not K − 1). weightT: f32[K, E] scratch for the
 * transposed weight [E, K]; bias = 0 when absent.
 */
export function causal_conv_silu_f32(
  out: usize, x: usize, state: usize, weight: usize, bias: usize,
  T: i32, E: i32, K: i32, weightT: usize,
): void {
  const rowBytes = <usize>E << 2
  for (let e = 0; e < E; e++) {
    for (let k = 0; k < K; k++) {
      store<f32>(weightT + <usize>k * rowBytes + (<usize>e << 2), load<f32>(weight + (<usize>(e * K + k) << 2)))
    }
  }
  const vec = E & ~3
  for (let t = 0; t < T; t++) {
    const o = out + <usize>t * rowBytes
    if (bias != 0) memory.copy(o, bias, rowBytes)
    else memory.fill(o, 0, rowBytes)
    for (let k = 0; k < K; k++) {
      const i = t - (K - 1) + k // input index; < 0 reads the state
      const src = i >= 0 ? x + <usize>i * rowBytes : state + <usize>(K + i) * rowBytes
      const wk = weightT + <usize>k * rowBytes
      let e = 0
      for (; e < vec; e += 4) {
        const b = <usize>e << 2
        v128.store(o + b, f32x4.add(v128.load(o + b), f32x4.mul(v128.load(wk + b), v128.load(src + b))))
      }
      for (; e < E; e++) {
        const b = <usize>e << 2
        store<f32>(o + b, load<f32>(o + b) + load<f32>(wk + b) * load<f32>(src + b))
      }
    }
    let e = 0
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
