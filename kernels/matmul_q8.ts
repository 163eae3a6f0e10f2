// int8 matvec / matmul (weights int8 with f32 scales per group, activations int8 per unit of 32 or
// 64 columns, i32 dot products), plain-SIMD and relaxed-SIMD variants; dequantising row gathers.
// Owns: matvec_q8_f32, matmul_q8_f32, matvec_q8_f32_relaxed, matmul_q8_f32_relaxed, sign_split_i8,
// gather_rows_q8.
// Must not import: anything but ./simd and ./quantize (activationUnit).
//
// Layout (wasm/layout.ts): rows in blocks of 4; columns padded per group to gp = ⌈group/32⌉·32.
// Block b holds padded/16 chunks of 64 bytes: chunk c is [row 4b+r][16 columns], r = 0..3.
// Scales: [rows/4 blocks][groups][4 rows] f32, so one v128 load gives a block's four scales.
// Activations come from quantize_rows_i8 (kernels/quantize.ts), one scale per unit: a group of 32 or
// 64 columns is one unit, so its dots get one horizontal sum and one scale. The relaxed kernels take
// them through sign_split_i8 once per call.
import { activationUnit } from './quantize'
import { hsum4i, isRelaxed, Plain, Relaxed, storeBlocks4, storeLanes } from './simd'

/** i32 dot of 16 int8 weights with 16 int8 activations already widened to i16 (plain SIMD). */
// @ts-ignore: decorator
@inline function dot16(acc: v128, w: v128, xl: v128, xh: v128): v128 {
  return i32x4.add(acc, i32x4.add(
    i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w), xl),
    i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w), xh)))
}

/**
 * Relaxed SIMD: the dot's second operand must be 7-bit, so it gets |x| ≤ 127 and the weights
 * carry the sign: with neg = (x < 0) as a byte mask, w ^ neg is w where x ≥ 0 and −w − 1 where
 * x < 0, so dot(w ^ neg, |x|) = dot(w, x) − Σ_{x<0} |x|. The correction depends on the activations
 * only: sign_split_i8 computes it once per unit and the accumulators start from it.
 */
// @ts-ignore: decorator
@inline function dot16r(acc: v128, w: v128, xa: v128, neg: v128): v128 {
  return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.xor(w, neg), xa, acc)
}

/**
 * The relaxed kernels' activations: xq [n bytes, n a multiple of unit (32 or 64)] → xsign [2n]: per
 * 16 columns |x| then the mask x < 0; nsum [n / unit] (i32): Σ|x| over the negative x of each unit.
 */
export function sign_split_i8(xq: usize, n: i32, unit: i32, xsign: usize, nsum: usize): void {
  for (let u = 0; u < n / unit; u++) {
    const q = xq + <usize>(u * unit)
    const o = xsign + (<usize>(u * unit) << 1)
    let negSum = i32x4.splat(0)
    for (let half: usize = 0; half < <usize>(unit >> 4); half++) {
      const xv = v128.load(q + (half << 4))
      const neg = i8x16.lt_s(xv, i8x16.splat(0))
      const xa = i8x16.abs(xv)
      v128.store(o + (half << 5), xa)
      v128.store(o + (half << 5), neg, 16)
      negSum = i32x4.add(negSum, i32x4.extadd_pairwise_i16x8_u(i16x8.extadd_pairwise_i8x16_u(v128.and(xa, neg))))
    }
    store<i32>(nsum + (<usize>u << 2), i32x4.extract_lane(negSum, 0) + i32x4.extract_lane(negSum, 1) + i32x4.extract_lane(negSum, 2) + i32x4.extract_lane(negSum, 3))
  }
}

/**
 * The activations of 16-column half h of a unit, as the V dot (dotV) takes them, in two vectors:
 * plain, the int8 x widened to i16 (xHalfA the low eight, xHalfB the high eight); relaxed,
 * sign_split_i8's |x| (A) and sign mask (B).
 */
// @ts-ignore: decorator
@inline function xHalfA<V>(xp: usize, h: usize): v128 {
  return isRelaxed<V>() ? v128.load(xp + (h << 5)) : i16x8.extend_low_i8x16_s(v128.load(xp + (h << 4)))
}
// @ts-ignore: decorator
@inline function xHalfB<V>(xp: usize, h: usize): v128 {
  return isRelaxed<V>() ? v128.load(xp + (h << 5), 16) : i16x8.extend_high_i8x16_s(v128.load(xp + (h << 4)))
}
/** dot16 (plain) or dot16r (relaxed) of 16 weights with xHalfA / xHalfB's activations. */
// @ts-ignore: decorator
@inline function dotV<V>(acc: v128, w: v128, xA: v128, xB: v128): v128 {
  return isRelaxed<V>() ? dot16r(acc, w, xA, xB) : dot16(acc, w, xA, xB)
}

/**
 * One unit (4 rows × R runs of 32 columns, R = 1 or 2) of a block: the four rows' dots times the
 * unit's activation scale. The relaxed kernels start the accumulators from the unit's Σ_{x<0} |x| at
 * np (in lane 0; the lanes are summed). The unit's 16-column halves run as two loops of two (the
 * second only when R = 2): one loop over all four ran 0.72–0.89×, a loop over the runs around a
 * two-half loop 0.72–0.93× (Deno).
 */
// @ts-ignore: decorator
@inline function unitDot<V>(wp: usize, xp: usize, sp: usize, np: usize, R: i32): v128 {
  let a0 = isRelaxed<V>() ? v128.load32_zero(np) : i32x4.splat(0)
  let a1 = a0, a2 = a0, a3 = a0
  for (let h: usize = 0; h < 2; h++) {
    const w = wp + (h << 6), xA = xHalfA<V>(xp, h), xB = xHalfB<V>(xp, h)
    a0 = dotV<V>(a0, v128.load(w), xA, xB)
    a1 = dotV<V>(a1, v128.load(w, 16), xA, xB)
    a2 = dotV<V>(a2, v128.load(w, 32), xA, xB)
    a3 = dotV<V>(a3, v128.load(w, 48), xA, xB)
  }
  if (R == 2) {
    for (let h: usize = 2; h < 4; h++) {
      const w = wp + (h << 6), xA = xHalfA<V>(xp, h), xB = xHalfB<V>(xp, h)
      a0 = dotV<V>(a0, v128.load(w), xA, xB)
      a1 = dotV<V>(a1, v128.load(w, 16), xA, xB)
      a2 = dotV<V>(a2, v128.load(w, 32), xA, xB)
      a3 = dotV<V>(a3, v128.load(w, 48), xA, xB)
    }
  }
  return f32x4.mul(f32x4.convert_i32x4_s(hsum4i(a0, a1, a2, a3)), f32x4.splat(load<f32>(sp)))
}

/**
 * One group's term of a block's four outputs: the dots of its R runs (1, or 2 for groups of 64; one
 * activation unit) times the group's four scales at gs. R is a literal at every call.
 */
// @ts-ignore: decorator
@inline function groupTerm<V>(wp: usize, xp: usize, sp: usize, np: usize, gs: usize, R: i32): v128 {
  return f32x4.mul(unitDot<V>(wp, xp, sp, np, R), v128.load(gs))
}

/**
 * Four rows · one token, groups of R = 1 or 2 runs (a literal): one loop over the groups with their
 * runs unrolled (a nested group/run loop costs a loop set-up and an accumulator round trip per run).
 */
// @ts-ignore: decorator
@inline function blockGroups<V>(wb: usize, sb: usize, xq: usize, xs: usize, nsum: usize, groups: i32, R: i32): v128 {
  const xRun: usize = isRelaxed<V>() ? 64 : 32
  let acc = f32x4.splat(0)
  let wp = wb, xp = xq, sp = xs, np = nsum, gp = sb
  for (let g = 0; g < groups; g++, wp += <usize>R << 7, xp += <usize>R * xRun, sp += 4, np += 4, gp += 16) {
    acc = f32x4.add(acc, groupTerm<V>(wp, xp, sp, np, gp, R))
  }
  return acc
}

/**
 * Four rows · one token: returns the four outputs. V is Plain or Relaxed (simd.ts). Groups of 32 and
 * 64 take blockGroups; other groups (padded to whole runs) a nested group/unit loop.
 */
// @ts-ignore: decorator
@inline function block<V>(wb: usize, sb: usize, xq: usize, xs: usize, nsum: usize, groups: i32, runsPerGroup: i32): v128 {
  if (runsPerGroup == 1) return blockGroups<V>(wb, sb, xq, xs, nsum, groups, 1)
  if (runsPerGroup == 2) return blockGroups<V>(wb, sb, xq, xs, nsum, groups, 2)
  const runsPerUnit = activationUnit(runsPerGroup << 5) >> 5
  const xUnit = <usize>runsPerUnit * (isRelaxed<V>() ? 64 : 32)
  let acc = f32x4.splat(0)
  let wp = wb, xp = xq, sp = xs, np = nsum, gp = sb
  for (let g = 0; g < groups; g++, gp += 16) {
    let accG = f32x4.splat(0)
    for (let r = 0; r < runsPerGroup; r += runsPerUnit, wp += <usize>runsPerUnit << 7, xp += xUnit, sp += 4, np += 4) {
      accG = f32x4.add(accG, unitDot<V>(wp, xp, sp, np, runsPerUnit))
    }
    acc = f32x4.add(acc, f32x4.mul(accG, v128.load(gp)))
  }
  return acc
}

/**
 * One token, eight row blocks an eighth of the matrix apart (b0, b0 + eighth, …), group by group:
 * eight sequential weight streams in flight instead of one. One core's DRAM reads scale with the
 * streams its prefetchers follow (256 MiB read as one stream, or the best of 4 and 8 interleaved
 * ones: 10.1 / 18.8 GB/s in session 8's third bench run), so a matvec over weights that do not fit the cache gets more
 * bandwidth this way: four streams to eight, 1.03–1.16× on the 140M int8 model's decode in workerd
 * (whose 140 MB of weights come from DRAM), 0.98–1.02× on matrices the last-level cache holds. A
 * run's activations are loaded once for the eight blocks. Groups of R = 1 or 2 runs (a literal).
 */
// @ts-ignore: decorator
@inline function oct<V>(out: usize, w: usize, scales: usize, rows: i32, groups: i32, R: i32,
  stride: usize, sStride: usize, xq: usize, xs: usize, nsum: usize, b0: i32, eighth: i32): void {
  const xRun: usize = isRelaxed<V>() ? 64 : 32
  const wq = <usize>eighth * stride
  const sq = <usize>eighth * sStride
  let wp = w + <usize>b0 * stride
  let gp = scales + <usize>b0 * sStride
  let xp = xq, sp = xs, np = nsum
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), acc2 = f32x4.splat(0), acc3 = f32x4.splat(0)
  let acc4 = f32x4.splat(0), acc5 = f32x4.splat(0), acc6 = f32x4.splat(0), acc7 = f32x4.splat(0)
  for (let g = 0; g < groups; g++, wp += <usize>R << 7, xp += <usize>R * xRun, sp += 4, np += 4, gp += 16) {
    acc0 = f32x4.add(acc0, groupTerm<V>(wp, xp, sp, np, gp, R))
    acc1 = f32x4.add(acc1, groupTerm<V>(wp + wq, xp, sp, np, gp + sq, R))
    acc2 = f32x4.add(acc2, groupTerm<V>(wp + 2 * wq, xp, sp, np, gp + 2 * sq, R))
    acc3 = f32x4.add(acc3, groupTerm<V>(wp + 3 * wq, xp, sp, np, gp + 3 * sq, R))
    acc4 = f32x4.add(acc4, groupTerm<V>(wp + 4 * wq, xp, sp, np, gp + 4 * sq, R))
    acc5 = f32x4.add(acc5, groupTerm<V>(wp + 5 * wq, xp, sp, np, gp + 5 * sq, R))
    acc6 = f32x4.add(acc6, groupTerm<V>(wp + 6 * wq, xp, sp, np, gp + 6 * sq, R))
    acc7 = f32x4.add(acc7, groupTerm<V>(wp + 7 * wq, xp, sp, np, gp + 7 * sq, R))
  }
  storeBlocks4(out, rows, b0 << 2, eighth << 2, acc0, acc1, acc2, acc3)
  storeBlocks4(out, rows, (b0 + 4 * eighth) << 2, eighth << 2, acc4, acc5, acc6, acc7)
}

// @ts-ignore: decorator
@inline function matmul<V>(out: usize, w: usize, scales: usize, rows: i32, cols: i32, group: i32,
  xq: usize, xs: usize, nsum: usize, T: i32): void {
  const gp = (group + 31) & ~31
  const groups = cols / group
  const padded = <usize>(groups * gp)
  const units = <usize>(padded / activationUnit(gp))
  const stride = padded << 2 // bytes per 4-row block
  const sStride = <usize>groups << 4
  const xRow = isRelaxed<V>() ? padded << 1 : padded
  if (T == 1 && gp >> 5 <= 2) {
    // eight streams: blocks b, b + E, …, b + 7E (E = ⌊blocks / 8⌋), then the last blocks % 8 alone
    const blocks = (rows + 3) >> 2
    const E = blocks >> 3
    for (let b = 0; b < E; b++) {
      if (gp == 32) oct<V>(out, w, scales, rows, groups, 1, stride, sStride, xq, xs, nsum, b, E)
      else oct<V>(out, w, scales, rows, groups, 2, stride, sStride, xq, xs, nsum, b, E)
    }
    for (let r = E << 5; r < rows; r += 4) {
      const v = block<V>(w + <usize>(r >> 2) * stride, scales + <usize>(r >> 2) * sStride, xq, xs, nsum, groups, gp >> 5)
      storeLanes(out + (<usize>r << 2), v, rows - r)
    }
    return
  }
  // A token tile whose activations stay in L2 while each weight block is swept over it.
  const tile = max(1, <i32>(<usize>262144 / xRow))
  for (let t0 = 0; t0 < T; t0 += tile) {
    const t1 = min(T, t0 + tile)
    for (let r = 0; r < rows; r += 4) {
      const wb = w + <usize>(r >> 2) * stride
      const sb = scales + <usize>(r >> 2) * sStride
      for (let t = t0; t < t1; t++) {
        const v = block<V>(wb, sb, xq + <usize>t * xRow, xs + <usize>t * units * 4, nsum + <usize>t * units * 4, groups, gp >> 5)
        storeLanes(out + ((<usize>t * <usize>rows + <usize>r) << 2), v, rows - r)
      }
    }
  }
}

/** out[rows] = W · x̂ for one token (x̂: the quantised activations). */
export function matvec_q8_f32(out: usize, w: usize, scales: usize, rows: i32, cols: i32, group: i32, xq: usize, xs: usize): void {
  matmul<Plain>(out, w, scales, rows, cols, group, xq, xs, 0, 1)
}

/** out[T, rows] = x̂[T, cols] · Wᵀ, token-tiled. */
export function matmul_q8_f32(out: usize, w: usize, scales: usize, rows: i32, cols: i32, group: i32, xq: usize, xs: usize, T: i32): void {
  matmul<Plain>(out, w, scales, rows, cols, group, xq, xs, 0, T)
}

/** Relaxed variants take sign_split_i8's xsign and nsum instead of xq. */
export function matvec_q8_f32_relaxed(out: usize, w: usize, scales: usize, rows: i32, cols: i32, group: i32, xsign: usize, xs: usize, nsum: usize): void {
  matmul<Relaxed>(out, w, scales, rows, cols, group, xsign, xs, nsum, 1)
}

export function matmul_q8_f32_relaxed(out: usize, w: usize, scales: usize, rows: i32, cols: i32, group: i32, xsign: usize, xs: usize, nsum: usize, T: i32): void {
  matmul<Relaxed>(out, w, scales, rows, cols, group, xsign, xs, nsum, T)
}

/** out[i, :] = scale · q for row ids[i] (i32[n]). */
export function gather_rows_q8(out: usize, w: usize, scales: usize, cols: i32, group: i32, ids: usize, n: i32): void {
  const gp = (group + 31) & ~31
  const groups = cols / group
  const stride = <usize>(groups * gp) << 2
  for (let i = 0; i < n; i++) {
    const r = load<i32>(ids + (<usize>i << 2))
    const lane = <usize>(r & 3)
    const wb = w + <usize>(r >> 2) * stride + (lane << 4)
    const sb = scales + <usize>(r >> 2) * (<usize>groups << 4) + (lane << 2)
    const o = out + <usize>i * <usize>cols * 4
    for (let c = 0; c < cols; c++) {
      const g = c / group
      const p = g * gp + (c - g * group)
      const q = load<i8>(wb + (<usize>(p >> 4) << 6) + <usize>(p & 15))
      store<f32>(o + (<usize>c << 2), load<f32>(sb + (<usize>g << 4)) * <f32>q)
    }
  }
}
