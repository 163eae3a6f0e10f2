// Machine-limit probe for the relaxed-SIMD engines (scripts/bench-kernels.ts; not part of the shipped
// modules): the wasm f32x4 fused multiply-add peak (`f32x4.relaxed_madd`, one FMA instruction where the
// CPU has FMA3), the "wasm FMA peak" issue 3 judges the decode roofline against.
// Owns: peak_fma_f32.
// Must not import: anything but ./limits and ./simd.
import { peakChains } from './limits'
import { Relaxed } from './simd'

/** The f32x4 FMA peak: iters · 96 flops. */
export function peak_fma_f32(iters: i32): f32 {
  return peakChains<Relaxed>(iters)
}
