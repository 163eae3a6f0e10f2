// Machine-limit probes for scripts/limit-probe.ts (not part of the shipped
// modules): the wasm f32x4 mul+add peak and the streaming read bandwidth from linear memory; the peak's
// chains serve the FMA peak of kernels/limits_relaxed.ts too.
// Owns: peak_mul_add_f32, stream_read_f32, peakChains (shared with kernels/limits_relaxed.ts).
// Must not import: anything but ./simd (the Plain / Relaxed switch).
import { madd, Plain } from './simd'

const FACTORS = memory.data<f32>([0.999999, 1e-6])

/**
 * 12 independent a·m + c chains (V8 keeps ≤ 16 v128 in registers; 12 chains cover the latency of a
 * dependent mul → add or FMA on 2–4 FP pipes). Does iters · 12 · 4 · 2 flops; the result only keeps
 * the work alive. m and c are loaded, not constants: V8 15 (workerd) rebuilds a v128 constant at every
 * use inside the loop, which tripled it (8 instead of 25 GFLOP/s for mul+add, measured in workerd).
 */
// @ts-ignore: decorator
@inline export function peakChains<V>(iters: i32): f32 {
  const m = v128.load32_splat(FACTORS)
  const c = v128.load32_splat(FACTORS + 4)
  let a0 = f32x4.splat(1.0), a1 = f32x4.splat(1.1), a2 = f32x4.splat(1.2), a3 = f32x4.splat(1.3)
  let a4 = f32x4.splat(1.4), a5 = f32x4.splat(1.5), a6 = f32x4.splat(1.6), a7 = f32x4.splat(1.7)
  let a8 = f32x4.splat(1.8), a9 = f32x4.splat(1.9), a10 = f32x4.splat(2.0), a11 = f32x4.splat(2.1)
  for (let i = 0; i < iters; i++) {
    a0 = madd<V>(a0, m, c)
    a1 = madd<V>(a1, m, c)
    a2 = madd<V>(a2, m, c)
    a3 = madd<V>(a3, m, c)
    a4 = madd<V>(a4, m, c)
    a5 = madd<V>(a5, m, c)
    a6 = madd<V>(a6, m, c)
    a7 = madd<V>(a7, m, c)
    a8 = madd<V>(a8, m, c)
    a9 = madd<V>(a9, m, c)
    a10 = madd<V>(a10, m, c)
    a11 = madd<V>(a11, m, c)
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)))
  return f32x4.extract_lane(f32x4.add(s, f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11))), 0)
}

/** The f32x4 mul+add peak: iters · 96 flops. */
export function peak_mul_add_f32(iters: i32): f32 {
  return peakChains<Plain>(iters)
}

/**
 * Σ of `bytes` bytes of floats at ptr, read once with 4 accumulators as `streams` interleaved
 * sequential streams (the buffer cut into `streams` equal parts, one 64-byte line of each per step;
 * bytes a multiple of 64 · streams). One stream is the plain sequential read; one core's DRAM reads
 * scale with the streams its prefetchers follow (this VM: about 8 GB/s for 1, 14–16 for 8), and the
 * decode matvecs read 4 (q8, q4: 4 blocks; f32: 2 blocks × 2 column halves), so the bench takes the best.
 */
export function stream_read_f32(ptr: usize, bytes: usize, streams: usize): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0)
  const part = bytes / streams
  const end = ptr + part
  for (let p = ptr; p < end; p += 64) {
    for (let q = p; q < p + bytes; q += part) {
      a0 = f32x4.add(a0, v128.load(q))
      a1 = f32x4.add(a1, v128.load(q, 16))
      a2 = f32x4.add(a2, v128.load(q, 32))
      a3 = f32x4.add(a3, v128.load(q, 48))
    }
  }
  return f32x4.extract_lane(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), 0)
}
