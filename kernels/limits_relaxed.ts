// Machine-limit probe for the relaxed-SIMD engines (scripts/bench-kernels.ts; not part of the shipped
// modules): the wasm f32x4 fused multiply-add peak (`f32x4.relaxed_madd`, one FMA instruction where the
// CPU has FMA3), the "wasm FMA peak" issue 3 judges the decode roofline against.
// Owns: peak_fma_f32.
// Must not import: anything.

const FACTORS = memory.data<f32>([0.999999, 1e-6])

/**
 * 12 independent FMA chains (a FMA has a 4-cycle latency on 2 pipes: ≥ 8 chains cover it; V8 keeps
 * ≤ 16 v128 in registers). Does iters · 12 · 4 · 2 flops; the result only keeps the work alive.
 */
export function peak_fma_f32(iters: i32): f32 {
  // loaded, not constants: V8 15 (workerd) rebuilds a v128 constant at every use inside the loop, which
  // tripled the loop (8 instead of 25 GFLOP/s for mul+add, measured in workerd and Deno)
  const m = v128.load32_splat(FACTORS)
  const c = v128.load32_splat(FACTORS + 4)
  let a0 = f32x4.splat(1.0), a1 = f32x4.splat(1.1), a2 = f32x4.splat(1.2), a3 = f32x4.splat(1.3)
  let a4 = f32x4.splat(1.4), a5 = f32x4.splat(1.5), a6 = f32x4.splat(1.6), a7 = f32x4.splat(1.7)
  let a8 = f32x4.splat(1.8), a9 = f32x4.splat(1.9), a10 = f32x4.splat(2.0), a11 = f32x4.splat(2.1)
  for (let i = 0; i < iters; i++) {
    a0 = f32x4.relaxed_madd(a0, m, c)
    a1 = f32x4.relaxed_madd(a1, m, c)
    a2 = f32x4.relaxed_madd(a2, m, c)
    a3 = f32x4.relaxed_madd(a3, m, c)
    a4 = f32x4.relaxed_madd(a4, m, c)
    a5 = f32x4.relaxed_madd(a5, m, c)
    a6 = f32x4.relaxed_madd(a6, m, c)
    a7 = f32x4.relaxed_madd(a7, m, c)
    a8 = f32x4.relaxed_madd(a8, m, c)
    a9 = f32x4.relaxed_madd(a9, m, c)
    a10 = f32x4.relaxed_madd(a10, m, c)
    a11 = f32x4.relaxed_madd(a11, m, c)
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)))
  return f32x4.extract_lane(f32x4.add(s, f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11))), 0)
}
