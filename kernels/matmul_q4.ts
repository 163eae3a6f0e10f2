// int4 matvec / matmul (nibbles with f32 scales per 32 or 64 columns, activations int8 per 32
// columns, i32 dot products), plain-SIMD and relaxed-SIMD variants; dequantising row gathers.
// Owns: matvec_q4_f32, matmul_q4_f32, matvec_q4_f32_relaxed, matmul_q4_f32_relaxed, gather_rows_q4.
// Must not import: anything but ./simd.
//
// w = scale · (q − 8), so dot(x, w) = scale · (dot(x, q) − 8·Σx): the raw nibbles 0..15 are used
// directly and Σx comes once per activation group from quantize_rows_i8 (the kernels overwrite
// those sums with the correction −8·Σx they start each run from).
//
// Layout (wasm/layout.ts): rows in blocks of 4; block b holds cols/32 chunks of 64 bytes; chunk c is
// [row 4b+r][16 bytes], and byte i of a row holds column 32c+i in its low nibble and column 32c+16+i
// in its high nibble. Scales: [rows/4 blocks][groups][4 rows] f32.
//  - relaxed: lo = v & 0x0F gives columns 0..15, hi = (v >> 4) & 0x0F columns 16..31, each the
//    7-bit operand of one relaxed dot with 16 int8 activations.
//  - plain: read as eight 16-bit lanes, lane l = byte 2l | byte 2l+1 << 8 holds the columns
//    (2l, 16+2l, 2l+1, 17+2l) in its four nibbles, so three masks and one shift give four i16x8
//    vectors without any widening; the activations come pre-permuted and pre-scaled to match (x16
//    in quantize.ts, see dot32).
import { hsum4i, isRelaxed, Plain, Relaxed, storeBlocks4, storeLanes } from './simd'

/**
 * 256 · dot of 32 nibbles (one row's 16 bytes) with 32 i16 activations X0..X3 (plain SIMD). Lane l
 * holds nibbles n0..n3 at bits 0, 4, 8, 12; the activations come pre-scaled by 256, 16, 1, 256
 * (quantize.ts), so (v & 0xF)·256x0, (v & 0xF0)·16x1, (v & 0xF00)·x2 and (v >> 12)·256x3 are each
 * 256·n·x: three masks and one shift instead of three shifts and three masks.
 */
// @ts-ignore: decorator
@inline function dot32(acc: v128, v: v128, X0: v128, X1: v128, X2: v128, X3: v128): v128 {
  const d01 = i32x4.add(
    i32x4.dot_i16x8_s(v128.and(v, i16x8.splat(0x000f)), X0),
    i32x4.dot_i16x8_s(v128.and(v, i16x8.splat(0x00f0)), X1))
  const d23 = i32x4.add(
    i32x4.dot_i16x8_s(v128.and(v, i16x8.splat(0x0f00)), X2),
    i32x4.dot_i16x8_s(i16x8.shr_u(v, 12), X3))
  return i32x4.add(acc, i32x4.add(d01, d23))
}

/** Four rows' i32x4 partial dots of one run (plain SIMD), read back for the horizontal sums. */
const ROWS = memory.data(64, 16)

/**
 * The relaxed kernel's nibble mask, broadcast from memory at each use: V8 15 (workerd) rebuilds a v128
 * constant at every use (three instructions), a broadcast load is one, and the relaxed q4 matvec ran
 * 1.24–1.44× faster for it (CPU-time A/B in Deno's V8 15.0). The plain kernel keeps its constants:
 * it runs in Node 20 (V8 11.3), which hoists them, and loads there were 0.83–0.93×.
 */
const NIBBLE_MASK = memory.data<u32>([0x0f0f0f0f])

/** dot of 32 nibbles with 32 int8 activations (xlo: columns 0..15, xhi: 16..31), relaxed SIMD. */
// @ts-ignore: decorator
@inline function dot32r(acc: v128, v: v128, xlo: v128, xhi: v128): v128 {
  acc = i32x4.relaxed_dot_i8x16_i7x16_add_s(xlo, v128.and(v, v128.load32_splat(NIBBLE_MASK)), acc)
  return i32x4.relaxed_dot_i8x16_i7x16_add_s(xhi, v128.and(i16x8.shr_u(v, 4), v128.load32_splat(NIBBLE_MASK)), acc)
}

/**
 * One run (4 rows × 32 columns) of a block: the four rows' dots, less 8·Σx, scaled by the run's
 * activation scale. xq: i8 activations (relaxed, 32 bytes a run) or the permuted i16 ones (plain, 64).
 */
// @ts-ignore: decorator
@inline function run<V>(wp: usize, xp: usize, sp: usize, np: usize): v128 {
  // every row's accumulator starts from the run's zero-point correction (lane 0; matmul's prologue)
  const c = v128.load32_zero(np)
  let a0 = c, a1 = c, a2 = c, a3 = c
  if (isRelaxed<V>()) {
    const xlo = v128.load(xp)
    const xhi = v128.load(xp, 16)
    a0 = dot32r(a0, v128.load(wp), xlo, xhi)
    a1 = dot32r(a1, v128.load(wp, 16), xlo, xhi)
    a2 = dot32r(a2, v128.load(wp, 32), xlo, xhi)
    a3 = dot32r(a3, v128.load(wp, 48), xlo, xhi)
  } else {
    // one row per loop iteration: unrolled over the four rows, V8 schedules all sixteen masked
    // vectors first and spills them (measured: 62 stack moves per block)
    const X0 = v128.load(xp)
    const X1 = v128.load(xp, 16)
    const X2 = v128.load(xp, 32)
    const X3 = v128.load(xp, 48)
    for (let r: usize = 0; r < 64; r += 16) v128.store(ROWS + r, dot32(c, v128.load(wp + r), X0, X1, X2, X3))
    a0 = v128.load(ROWS)
    a1 = v128.load(ROWS, 16)
    a2 = v128.load(ROWS, 32)
    a3 = v128.load(ROWS, 48)
  }
  return f32x4.mul(f32x4.convert_i32x4_s(hsum4i(a0, a1, a2, a3)), f32x4.splat(load<f32>(sp)))
}

/**
 * One group's term of a block's four outputs: its R runs (1, or 2 for groups of 64) summed, times the
 * group's four scales at gs. R is a literal at every call, so the choice folds away.
 */
// @ts-ignore: decorator
@inline function groupTerm<V>(wp: usize, xp: usize, sp: usize, np: usize, gs: usize, R: i32): v128 {
  const xRun: usize = isRelaxed<V>() ? 32 : 64
  const runs = R == 1 ? run<V>(wp, xp, sp, np) : f32x4.add(run<V>(wp, xp, sp, np), run<V>(wp + 64, xp + xRun, sp + 4, np + 4))
  return f32x4.mul(runs, v128.load(gs))
}

/** The plain kernels' dots carry 256 (dot32): exact, |256·d| < 2^24 converts without rounding and a power of two commutes with it. */
// @ts-ignore: decorator
@inline function unscale<V>(acc: v128): v128 {
  return isRelaxed<V>() ? acc : f32x4.mul(acc, f32x4.splat(1.0 / 256.0))
}

/**
 * Four rows · one token, groups of R = 1 or 2 runs (q4 groups are 32 or 64 columns): one loop over
 * the groups with their runs unrolled (a nested group/run loop costs a loop set-up and an
 * accumulator round trip per run, measured 1.05–1.1× in V8 15).
 */
// @ts-ignore: decorator
@inline function block<V>(wb: usize, sb: usize, xq: usize, xs: usize, xsum: usize, groups: i32, R: i32): v128 {
  const xRun: usize = isRelaxed<V>() ? 32 : 64
  let acc = f32x4.splat(0)
  let wp = wb, xp = xq, sp = xs, np = xsum, gp = sb
  for (let g = 0; g < groups; g++, wp += <usize>R << 6, xp += <usize>R * xRun, sp += <usize>R << 2, np += <usize>R << 2, gp += 16) {
    acc = f32x4.add(acc, groupTerm<V>(wp, xp, sp, np, gp, R))
  }
  return unscale<V>(acc)
}

/**
 * One token, four row blocks a quarter of the matrix apart (b0, b0 + quarter, …), group by group:
 * four weight streams in flight instead of one (matmul_q8.ts quad: one core's DRAM reads scale with
 * the streams its prefetchers follow); a run's activations are loaded once for the four blocks.
 */
// @ts-ignore: decorator
@inline function quad<V>(out: usize, w: usize, scales: usize, rows: i32, groups: i32, R: i32,
  stride: usize, sStride: usize, xq: usize, xs: usize, xsum: usize, b0: i32, quarter: i32): void {
  const xRun: usize = isRelaxed<V>() ? 32 : 64
  const wq = <usize>quarter * stride
  const sq = <usize>quarter * sStride
  let wp = w + <usize>b0 * stride
  let gp = scales + <usize>b0 * sStride
  let xp = xq, sp = xs, np = xsum
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), acc2 = f32x4.splat(0), acc3 = f32x4.splat(0)
  for (let g = 0; g < groups; g++, wp += <usize>R << 6, xp += <usize>R * xRun, sp += <usize>R << 2, np += <usize>R << 2, gp += 16) {
    acc0 = f32x4.add(acc0, groupTerm<V>(wp, xp, sp, np, gp, R))
    acc1 = f32x4.add(acc1, groupTerm<V>(wp + wq, xp, sp, np, gp + sq, R))
    acc2 = f32x4.add(acc2, groupTerm<V>(wp + 2 * wq, xp, sp, np, gp + 2 * sq, R))
    acc3 = f32x4.add(acc3, groupTerm<V>(wp + 3 * wq, xp, sp, np, gp + 3 * sq, R))
  }
  storeBlocks4(out, rows, b0 << 2, quarter << 2, unscale<V>(acc0), unscale<V>(acc1), unscale<V>(acc2), unscale<V>(acc3))
}

/** Groups of 32 or 64 columns: the body below with R = 1 or 2 runs a group as a literal. */
// @ts-ignore: decorator
@inline function matmul<V>(out: usize, w: usize, scales: usize, rows: i32, cols: i32, group: i32,
  xq: usize, xs: usize, xsum: usize, T: i32): void {
  if (group == 32) groupedMatmul<V>(out, w, scales, rows, cols, group, xq, xs, xsum, T, 1)
  else groupedMatmul<V>(out, w, scales, rows, cols, group, xq, xs, xsum, T, 2)
}

// @ts-ignore: decorator
@inline function groupedMatmul<V>(out: usize, w: usize, scales: usize, rows: i32, cols: i32, group: i32,
  xq: usize, xs: usize, xsum: usize, T: i32, R: i32): void {
  const groups = cols / group
  const runs = <usize>(cols >> 5)
  const stride = <usize>cols << 1 // bytes per 4-row block: 4 rows · cols / 2
  const sStride = <usize>groups << 4
  const xRow = isRelaxed<V>() ? <usize>cols : <usize>cols << 1
  // dot(x, q − 8) = dot(x, q) − 8·Σx: each run's Σq becomes −8·Σq (relaxed) or −2048·Σq (plain: its
  // dots carry 256), once per call instead of once per run of every block
  const shift = isRelaxed<V>() ? 3 : 11
  for (let i: usize = 0; i < <usize>T * runs; i++) store<i32>(xsum + (i << 2), -(load<i32>(xsum + (i << 2)) << shift))
  if (T == 1) {
    // four streams: blocks b, b + Q, b + 2Q, b + 3Q (Q = ⌊blocks / 4⌋), then the last blocks % 4 alone
    const Q = ((rows + 3) >> 2) >> 2
    for (let b = 0; b < Q; b++) quad<V>(out, w, scales, rows, groups, R, stride, sStride, xq, xs, xsum, b, Q)
    for (let r = Q << 4; r < rows; r += 4) {
      const v = block<V>(w + <usize>(r >> 2) * stride, scales + <usize>(r >> 2) * sStride, xq, xs, xsum, groups, R)
      storeLanes(out + (<usize>r << 2), v, rows - r)
    }
    return
  }
  const tile = max(1, <i32>(<usize>262144 / xRow))
  for (let t0 = 0; t0 < T; t0 += tile) {
    const t1 = min(T, t0 + tile)
    for (let r = 0; r < rows; r += 4) {
      const wb = w + <usize>(r >> 2) * stride
      const sb = scales + <usize>(r >> 2) * sStride
      for (let t = t0; t < t1; t++) {
        const v = block<V>(wb, sb, xq + <usize>t * xRow, xs + <usize>t * runs * 4, xsum + <usize>t * runs * 4, groups, R)
        storeLanes(out + ((<usize>t * <usize>rows + <usize>r) << 2), v, rows - r)
      }
    }
  }
}

/**
 * out[rows] = W · x̂ for one token; x16: permuted i16 activations, xs / xsum: per-32 scales and Σq
 * (xsum is overwritten: it is the caller's scratch for this call).
 */
export function matvec_q4_f32(out: usize, w: usize, scales: usize, rows: i32, cols: i32, group: i32, x16: usize, xs: usize, xsum: usize): void {
  matmul<Plain>(out, w, scales, rows, cols, group, x16, xs, xsum, 1)
}

export function matmul_q4_f32(out: usize, w: usize, scales: usize, rows: i32, cols: i32, group: i32, x16: usize, xs: usize, xsum: usize, T: i32): void {
  matmul<Plain>(out, w, scales, rows, cols, group, x16, xs, xsum, T)
}

/** Relaxed variants take the i8 activations xq instead of x16. */
export function matvec_q4_f32_relaxed(out: usize, w: usize, scales: usize, rows: i32, cols: i32, group: i32, xq: usize, xs: usize, xsum: usize): void {
  matmul<Relaxed>(out, w, scales, rows, cols, group, xq, xs, xsum, 1)
}

export function matmul_q4_f32_relaxed(out: usize, w: usize, scales: usize, rows: i32, cols: i32, group: i32, xq: usize, xs: usize, xsum: usize, T: i32): void {
  matmul<Relaxed>(out, w, scales, rows, cols, group, xq, xs, xsum, T)
}

/** out[i, :] = scale · (q − 8) for row ids[i] (i32[n]). */
export function gather_rows_q4(out: usize, w: usize, scales: usize, cols: i32, group: i32, ids: usize, n: i32): void {
  const groups = cols / group
  const stride = <usize>cols << 1
  for (let i = 0; i < n; i++) {
    const r = load<i32>(ids + (<usize>i << 2))
    const lane = <usize>(r & 3)
    const wb = w + <usize>(r >> 2) * stride + (lane << 4)
    const sb = scales + <usize>(r >> 2) * (<usize>groups << 4) + (lane << 2)
    const o = out + <usize>i * <usize>cols * 4
    for (let c = 0; c < cols; c++) {
      const k = c & 31
      const byte = load<u8>(wb + (<usize>(c >> 5) << 6) + <usize>(k & 15))
      const q = <i32>(k < 16 ? byte & 15 : byte >> 4) - 8
      store<f32>(o + (<usize>c << 2), load<f32>(sb + (<usize>(c / group) << 4)) * <f32>q)
    }
  }
}
