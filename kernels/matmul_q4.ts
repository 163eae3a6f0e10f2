// int4 matvec / matmul (nibbles with f32 scales per 32 or 64 columns, activations int8 with one
// scale per group, i32 dot products), plain-SIMD and relaxed-SIMD variants; dequantising row gathers.
// Owns: matvec_q4_f32, matmul_q4_f32, matvec_q4_f32_relaxed, matmul_q4_f32_relaxed, gather_rows_q4,
// gather_rows_q4_relaxed.
// Must not import: anything but ./simd.
//
// w = scale · (q − 8), so dot(x, w) = scale · (dot(x, q) − 8·Σx): the raw nibbles 0..15 are used
// directly and Σx comes once per activation unit from quantize_rows_i8 (the kernels overwrite
// those sums with the correction −8·Σx they start each group from). A q4 group (32 or 64 columns)
// is one activation unit (kernels/quantize.ts), so a group's runs share one accumulator and scale.
//
// Layouts (wasm/layout.ts): rows in blocks of 4; block b holds cols/32 runs of 64 bytes, one run
// being 4 rows × 32 columns. Scales: [rows/4 blocks][groups][4 rows] f32. The two modules order a
// run's bytes differently:
//  - plain ("column halves"): the run is [row r][16 bytes], byte i of a row holding column i in its
//    low nibble and column 16 + i in its high nibble. Read as eight 16-bit lanes, lane l = byte 2l |
//    byte 2l+1 << 8 holds the columns (2l, 16+2l, 2l+1, 17+2l) in its four nibbles, so three masks
//    and one shift give four i16x8 vectors without any widening; the activations come pre-permuted
//    and pre-scaled to match (x16 in quantize.ts, see dot32). Four rows' dots end in a transpose-add.
//  - relaxed ("row lanes"): the run is four 16-byte chunks, chunk k holding columns 8k..8k+7: byte
//    4r + j is row r's column 8k + j (low nibble) and 8k + 4 + j (high nibble). A relaxed dot of a
//    chunk's low (high) nibbles with four activations broadcast to every lane sums row r's four
//    products in lane r, so the four rows' dots come out in the lanes without a transpose-add, and
//    one broadcast serves every block of a quad.
import { hsum4i, isRelaxed, madd, Plain, Relaxed, storeBlocks4, storeLanes } from './simd'

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
 * One run (4 rows × 32 columns) of a block, plain SIMD, into the rows' partial dots at ROWS: they
 * start from c (first run of a group) or add to what is there. xp: the permuted i16 activations
 * (64 bytes a run).
 */
// @ts-ignore: decorator
@inline function runRows(wp: usize, xp: usize, c: v128, first: bool): void {
  const X0 = v128.load(xp)
  const X1 = v128.load(xp, 16)
  const X2 = v128.load(xp, 32)
  const X3 = v128.load(xp, 48)
  // one row per loop iteration: unrolled over the four rows, V8 schedules all sixteen masked
  // vectors first and spills them (measured: 62 stack moves per block)
  for (let r: usize = 0; r < 64; r += 16) v128.store(ROWS + r, dot32(first ? c : v128.load(ROWS + r), v128.load(wp + r), X0, X1, X2, X3))
}

/**
 * One group's term of a block's four outputs, plain SIMD: the four rows' dots over its R runs (R = 1
 * or 2, a literal), less 8·Σx, times the group's activation scale and its four weight scales at gs.
 */
// @ts-ignore: decorator
@inline function groupTerm(wp: usize, xp: usize, sp: usize, np: usize, gs: usize, R: i32): v128 {
  // every row's accumulator starts from the group's zero-point correction (lane 0; matmul's prologue)
  const c = v128.load32_zero(np)
  runRows(wp, xp, c, true)
  if (R == 2) runRows(wp + 64, xp + 64, c, false)
  const sums = hsum4i(v128.load(ROWS), v128.load(ROWS, 16), v128.load(ROWS, 32), v128.load(ROWS, 48))
  return f32x4.mul(f32x4.mul(f32x4.convert_i32x4_s(sums), f32x4.splat(load<f32>(sp))), v128.load(gs))
}

/** The plain kernels' dots carry 256 (dot32): exact, |256·d| < 2^24 converts without rounding and a power of two commutes with it. */
// @ts-ignore: decorator
@inline function unscale(acc: v128): v128 {
  return f32x4.mul(acc, f32x4.splat(1.0 / 256.0))
}

/**
 * Four rows · one token (plain SIMD), groups of R = 1 or 2 runs (q4 groups are 32 or 64 columns):
 * one loop over the groups with their runs unrolled (a nested group/run loop costs a loop set-up
 * and an accumulator round trip per run, measured 1.05–1.1× in V8 15).
 */
// @ts-ignore: decorator
@inline function block(wb: usize, sb: usize, xq: usize, xs: usize, xsum: usize, groups: i32, R: i32): v128 {
  let acc = f32x4.splat(0)
  let wp = wb, xp = xq, sp = xs, np = xsum, gp = sb
  for (let g = 0; g < groups; g++, wp += <usize>R << 6, xp += <usize>R << 6, sp += 4, np += 4, gp += 16) {
    acc = f32x4.add(acc, groupTerm(wp, xp, sp, np, gp, R))
  }
  return unscale(acc)
}

/**
 * One token, four row blocks a quarter of the matrix apart (b0, b0 + quarter, …), group by group
 * (plain SIMD): four weight streams in flight instead of one (matmul_q8.ts oct: one core's DRAM
 * reads scale with the streams its prefetchers follow); a run's activations are loaded once for the
 * four blocks.
 */
// @ts-ignore: decorator
@inline function quad(out: usize, w: usize, scales: usize, rows: i32, groups: i32, R: i32,
  stride: usize, sStride: usize, xq: usize, xs: usize, xsum: usize, b0: i32, quarter: i32): void {
  const wq = <usize>quarter * stride
  const sq = <usize>quarter * sStride
  let wp = w + <usize>b0 * stride
  let gp = scales + <usize>b0 * sStride
  let xp = xq, sp = xs, np = xsum
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), acc2 = f32x4.splat(0), acc3 = f32x4.splat(0)
  for (let g = 0; g < groups; g++, wp += <usize>R << 6, xp += <usize>R << 6, sp += 4, np += 4, gp += 16) {
    acc0 = f32x4.add(acc0, groupTerm(wp, xp, sp, np, gp, R))
    acc1 = f32x4.add(acc1, groupTerm(wp + wq, xp, sp, np, gp + sq, R))
    acc2 = f32x4.add(acc2, groupTerm(wp + 2 * wq, xp, sp, np, gp + 2 * sq, R))
    acc3 = f32x4.add(acc3, groupTerm(wp + 3 * wq, xp, sp, np, gp + 3 * sq, R))
  }
  storeBlocks4(out, rows, b0 << 2, quarter << 2, unscale(acc0), unscale(acc1), unscale(acc2), unscale(acc3))
}

/**
 * The relaxed kernels' nibble mask, broadcast from memory once per call: V8 15 (workerd) rebuilds
 * a v128 constant at every use (three instructions) and does not hoist it out of a loop.
 */
const NIBBLE_MASK = memory.data<u32>([0x0f0f0f0f])

/**
 * One row-lanes chunk v (4 rows × 8 columns) into the rows' accumulator: its low nibbles against
 * xlo (the chunk's first four activations, broadcast to every lane), its high nibbles against xhi.
 */
// @ts-ignore: decorator
@inline function chunkR(acc: v128, v: v128, xlo: v128, xhi: v128, mask: v128): v128 {
  acc = i32x4.relaxed_dot_i8x16_i7x16_add_s(xlo, v128.and(v, mask), acc)
  return i32x4.relaxed_dot_i8x16_i7x16_add_s(xhi, v128.and(i16x8.shr_u(v, 4), mask), acc)
}

/**
 * One row-lanes run of one block (4 rows × 32 columns at wp, activations at xp): the four rows'
 * i32 dots in the lanes, added to c (to begin with, the group's −8·Σx in every lane).
 */
// @ts-ignore: decorator
@inline function runR(c: v128, wp: usize, xp: usize, mask: v128): v128 {
  let a = chunkR(c, v128.load(wp), v128.load32_splat(xp), v128.load32_splat(xp, 4), mask)
  a = chunkR(a, v128.load(wp, 16), v128.load32_splat(xp, 8), v128.load32_splat(xp, 12), mask)
  a = chunkR(a, v128.load(wp, 32), v128.load32_splat(xp, 16), v128.load32_splat(xp, 20), mask)
  return chunkR(a, v128.load(wp, 48), v128.load32_splat(xp, 24), v128.load32_splat(xp, 28), mask)
}

/**
 * Four rows · one token, relaxed: acc += group dots × (activation scale · the rows' group scales),
 * group by group, each run's four chunks unrolled (runR). block4TR with one token, its chunks in a
 * loop, ran the single-token tails 0.85–0.98× (Deno, T = 7), so the two stay apart.
 */
// @ts-ignore: decorator
@inline function blockR(wb: usize, sb: usize, xq: usize, xs: usize, xsum: usize, groups: i32, R: i32, mask: v128): v128 {
  let acc = f32x4.splat(0)
  let wp = wb, xp = xq, sp = xs, np = xsum, gp = sb
  for (let g = 0; g < groups; g++, gp += 16, sp += 4, np += 4) {
    // a run's eight dots form one dependency chain: the second run starts its own and joins after
    // (one chain through both ran 0.82–0.95× at T = 3 and 7, Deno)
    let a = runR(v128.load32_splat(np), wp, xp, mask)
    if (R == 2) a = i32x4.add(a, runR(i32x4.splat(0), wp + 64, xp + 32, mask))
    wp += <usize>R << 6
    xp += <usize>R << 5
    acc = madd<Relaxed>(f32x4.convert_i32x4_s(a), f32x4.mul(v128.load(gp), v128.load32_splat(sp)), acc)
  }
  return acc
}

/**
 * One token, four row blocks a quarter of the matrix apart, relaxed: chunk by chunk, each pair of
 * activation broadcasts feeds the four blocks' dots (4 i32 and 4 f32 accumulators, the mask, two
 * broadcasts and two temporaries: 13 live vectors, within the 16 registers V8 allocates).
 */
// @ts-ignore: decorator
@inline function quadR(out: usize, w: usize, scales: usize, rows: i32, groups: i32, R: i32,
  stride: usize, sStride: usize, xq: usize, xs: usize, xsum: usize, b0: i32, quarter: i32, mask: v128): void {
  const wq = <usize>quarter * stride
  const sq = <usize>quarter * sStride
  let wp = w + <usize>b0 * stride
  let gp = scales + <usize>b0 * sStride
  let xp = xq, sp = xs, np = xsum
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), acc2 = f32x4.splat(0), acc3 = f32x4.splat(0)
  for (let g = 0; g < groups; g++, gp += 16, sp += 4, np += 4) {
    const c = v128.load32_splat(np)
    let a0 = c, a1 = c, a2 = c, a3 = c
    for (let o: usize = 0; o < <usize>R << 6; o += 16) { // the group's R runs' chunks, in order
      const xlo = v128.load32_splat(xp + (o >> 1))
      const xhi = v128.load32_splat(xp + (o >> 1), 4)
      a0 = chunkR(a0, v128.load(wp + o), xlo, xhi, mask)
      a1 = chunkR(a1, v128.load(wp + wq + o), xlo, xhi, mask)
      a2 = chunkR(a2, v128.load(wp + 2 * wq + o), xlo, xhi, mask)
      a3 = chunkR(a3, v128.load(wp + 3 * wq + o), xlo, xhi, mask)
    }
    wp += <usize>R << 6
    xp += <usize>R << 5
    const xsv = v128.load32_splat(sp)
    acc0 = madd<Relaxed>(f32x4.convert_i32x4_s(a0), f32x4.mul(v128.load(gp), xsv), acc0)
    acc1 = madd<Relaxed>(f32x4.convert_i32x4_s(a1), f32x4.mul(v128.load(gp + sq), xsv), acc1)
    acc2 = madd<Relaxed>(f32x4.convert_i32x4_s(a2), f32x4.mul(v128.load(gp + 2 * sq), xsv), acc2)
    acc3 = madd<Relaxed>(f32x4.convert_i32x4_s(a3), f32x4.mul(v128.load(gp + 3 * sq), xsv), acc3)
  }
  storeBlocks4(out, rows, b0 << 2, quarter << 2, acc0, acc1, acc2, acc3)
}

/**
 * Four rows · four tokens (activations xRow bytes apart, their scales and corrections rb bytes
 * apart), relaxed: each chunk's nibbles are unpacked once for the four tokens. Writes the four
 * tokens' outputs (rows apart) for the rows r.. of the block.
 */
// @ts-ignore: decorator
@inline function block4TR(out: usize, rows: i32, r: i32, wb: usize, sb: usize, xq: usize, xs: usize, xsum: usize,
  xRow: usize, rb: usize, groups: i32, R: i32, mask: v128): void {
  let f0 = f32x4.splat(0), f1 = f32x4.splat(0), f2 = f32x4.splat(0), f3 = f32x4.splat(0)
  let wp = wb, xp = xq, sp = xs, np = xsum, gp = sb
  for (let g = 0; g < groups; g++, gp += 16, sp += 4, np += 4) {
    let a0 = v128.load32_splat(np), a1 = v128.load32_splat(np + rb), a2 = v128.load32_splat(np + 2 * rb), a3 = v128.load32_splat(np + 3 * rb)
    for (let o: usize = 0; o < <usize>R << 6; o += 16) { // the group's R runs' chunks, in order
      const v = v128.load(wp + o)
      const lo = v128.and(v, mask)
      const hi = v128.and(i16x8.shr_u(v, 4), mask)
      const x0 = xp + (o >> 1)
      a0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x0), lo, a0)
      a0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x0, 4), hi, a0)
      a1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x0 + xRow), lo, a1)
      a1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x0 + xRow, 4), hi, a1)
      a2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x0 + 2 * xRow), lo, a2)
      a2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x0 + 2 * xRow, 4), hi, a2)
      a3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x0 + 3 * xRow), lo, a3)
      a3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load32_splat(x0 + 3 * xRow, 4), hi, a3)
    }
    wp += <usize>R << 6
    xp += <usize>R << 5
    const gs = v128.load(gp)
    f0 = madd<Relaxed>(f32x4.convert_i32x4_s(a0), f32x4.mul(gs, v128.load32_splat(sp)), f0)
    f1 = madd<Relaxed>(f32x4.convert_i32x4_s(a1), f32x4.mul(gs, v128.load32_splat(sp + rb)), f1)
    f2 = madd<Relaxed>(f32x4.convert_i32x4_s(a2), f32x4.mul(gs, v128.load32_splat(sp + 2 * rb)), f2)
    f3 = madd<Relaxed>(f32x4.convert_i32x4_s(a3), f32x4.mul(gs, v128.load32_splat(sp + 3 * rb)), f3)
  }
  const n = rows - r
  const o = out + (<usize>r << 2)
  const ob = <usize>rows << 2
  storeLanes(o, f0, n)
  storeLanes(o + ob, f1, n)
  storeLanes(o + 2 * ob, f2, n)
  storeLanes(o + 3 * ob, f3, n)
}

/** −8·Σx per group (−2048·Σx for the plain kernels, whose dots carry 256), once per call instead of once per group of every block. */
// @ts-ignore: decorator
@inline function zeroPointCorrections(xsum: usize, n: usize, shift: i32): void {
  for (let i: usize = 0; i < n; i++) store<i32>(xsum + (i << 2), -(load<i32>(xsum + (i << 2)) << shift))
}

/** Groups of 32 or 64 columns: the bodies below with R = 1 or 2 runs a group as a literal. */
// @ts-ignore: decorator
@inline function matmul<V>(out: usize, w: usize, scales: usize, rows: i32, cols: i32, group: i32,
  xq: usize, xs: usize, xsum: usize, T: i32): void {
  zeroPointCorrections(xsum, <usize>T * <usize>(cols / group), isRelaxed<V>() ? 3 : 11)
  if (group == 32) groupedMatmul<V>(out, w, scales, rows, cols, group, xq, xs, xsum, T, 1)
  else groupedMatmul<V>(out, w, scales, rows, cols, group, xq, xs, xsum, T, 2)
}

// @ts-ignore: decorator
@inline function groupedMatmul<V>(out: usize, w: usize, scales: usize, rows: i32, cols: i32, group: i32,
  xq: usize, xs: usize, xsum: usize, T: i32, R: i32): void {
  const relaxed = isRelaxed<V>()
  const groups = cols / group
  const stride = <usize>cols << 1 // bytes per 4-row block: 4 rows · cols / 2
  const sStride = <usize>groups << 4
  const xRow = relaxed ? <usize>cols : <usize>cols << 1
  const sRow = <usize>groups << 2 // bytes of a token's activation scales (and sums): one per group
  const mask = relaxed ? v128.load32_splat(NIBBLE_MASK) : i32x4.splat(0)
  if (T == 1) {
    // four streams: blocks b, b + Q, b + 2Q, b + 3Q (Q = ⌊blocks / 4⌋), then the last blocks % 4 alone
    const Q = ((rows + 3) >> 2) >> 2
    for (let b = 0; b < Q; b++) {
      if (relaxed) quadR(out, w, scales, rows, groups, R, stride, sStride, xq, xs, xsum, b, Q, mask)
      else quad(out, w, scales, rows, groups, R, stride, sStride, xq, xs, xsum, b, Q)
    }
    for (let r = Q << 4; r < rows; r += 4) {
      const wb = w + <usize>(r >> 2) * stride
      const sb = scales + <usize>(r >> 2) * sStride
      const v = relaxed ? blockR(wb, sb, xq, xs, xsum, groups, R, mask) : block(wb, sb, xq, xs, xsum, groups, R)
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
      let t = t0
      if (relaxed) {
        for (; t + 4 <= t1; t += 4) {
          block4TR(out + (<usize>t * <usize>rows << 2), rows, r, wb, sb, xq + <usize>t * xRow, xs + <usize>t * sRow, xsum + <usize>t * sRow, xRow, sRow, groups, R, mask)
        }
      }
      for (; t < t1; t++) {
        const xt = xq + <usize>t * xRow
        const st = xs + <usize>t * sRow
        const nt = xsum + <usize>t * sRow
        const v = relaxed ? blockR(wb, sb, xt, st, nt, groups, R, mask) : block(wb, sb, xt, st, nt, groups, R)
        storeLanes(out + ((<usize>t * <usize>rows + <usize>r) << 2), v, rows - r)
      }
    }
  }
}

/**
 * out[rows] = W · x̂ for one token; x16: permuted i16 activations, xs / xsum: per-group scales and Σq
 * (xsum is overwritten: it is the caller's scratch for this call).
 */
export function matvec_q4_f32(out: usize, w: usize, scales: usize, rows: i32, cols: i32, group: i32, x16: usize, xs: usize, xsum: usize): void {
  matmul<Plain>(out, w, scales, rows, cols, group, x16, xs, xsum, 1)
}

export function matmul_q4_f32(out: usize, w: usize, scales: usize, rows: i32, cols: i32, group: i32, x16: usize, xs: usize, xsum: usize, T: i32): void {
  matmul<Plain>(out, w, scales, rows, cols, group, x16, xs, xsum, T)
}

/** Relaxed variants take the i8 activations xq instead of x16, and the row-lanes layout. */
export function matvec_q4_f32_relaxed(out: usize, w: usize, scales: usize, rows: i32, cols: i32, group: i32, xq: usize, xs: usize, xsum: usize): void {
  matmul<Relaxed>(out, w, scales, rows, cols, group, xq, xs, xsum, 1)
}

export function matmul_q4_f32_relaxed(out: usize, w: usize, scales: usize, rows: i32, cols: i32, group: i32, xq: usize, xs: usize, xsum: usize, T: i32): void {
  matmul<Relaxed>(out, w, scales, rows, cols, group, xq, xs, xsum, T)
}

/**
 * out[i, :] = scale · (q − 8) for row ids[i] (i32[n]); byteOf(c) is the byte of column c within
 * its row's part of the block (the layout's), hiOf(c) whether it is the high nibble.
 */
// @ts-ignore: decorator
@inline function gatherRows(out: usize, w: usize, scales: usize, cols: i32, group: i32, ids: usize, n: i32, rowLanes: bool): void {
  const groups = cols / group
  const stride = <usize>cols << 1
  for (let i = 0; i < n; i++) {
    const r = load<i32>(ids + (<usize>i << 2))
    const lane = <usize>(r & 3)
    const wb = w + <usize>(r >> 2) * stride + (rowLanes ? lane << 2 : lane << 4)
    const sb = scales + <usize>(r >> 2) * (<usize>groups << 4) + (lane << 2)
    const o = out + <usize>i * <usize>cols * 4
    for (let c = 0; c < cols; c++) {
      const k = c & 31
      const at: usize = rowLanes ? (<usize>(k >> 3) << 4) + <usize>(k & 3) : <usize>(k & 15)
      const high = rowLanes ? (k & 4) != 0 : k >= 16
      const byte = load<u8>(wb + (<usize>(c >> 5) << 6) + at)
      const q = <i32>(high ? byte >> 4 : byte & 15) - 8
      store<f32>(o + (<usize>c << 2), load<f32>(sb + (<usize>(c / group) << 4)) * <f32>q)
    }
  }
}

/** out[i, :] = scale · (q − 8) for row ids[i] (i32[n]), column-halves layout. */
export function gather_rows_q4(out: usize, w: usize, scales: usize, cols: i32, group: i32, ids: usize, n: i32): void {
  gatherRows(out, w, scales, cols, group, ids, n, false)
}

/** gather_rows_q4 for the row-lanes layout of the relaxed module. */
export function gather_rows_q4_relaxed(out: usize, w: usize, scales: usize, cols: i32, group: i32, ids: usize, n: i32): void {
  gatherRows(out, w, scales, cols, group, ids, n, true)
}
