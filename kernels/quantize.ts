// Activation quantisation for the integer matmuls: int8, symmetric, one f32 scale per unit of 32 or
// 64 columns (activationUnit).
// Owns: quantize_rows_i8, activationUnit.
// Must not import: anything.
//
// The columns are laid out as in the prepared q8/q4 matrices (wasm/layout.ts): weight group g
// covers source columns [g·group, (g+1)·group) and occupies padded columns [g·gp, (g+1)·gp), gp =
// group rounded up to 32. The padded columns are cut into units of 64 when gp is a multiple of 64,
// else 32, so a unit never straddles two weight groups and a group of 64 (the bundles' default) is
// one unit: the matvecs then scale a group's dot products once (kernels/matmul_q8.ts, matmul_q4.ts).
// Per unit: scale = max|x| / 127, q = round(x / scale) ∈ [−127, 127] (never −128, so |q| fits the
// relaxed dot's 7-bit operand), padding is 0, and Σq (the int4 kernels need dot(x, q − 8) =
// dot(x, q) − 8·Σx).

/** Columns per activation scale for a weight group padded to gp columns (a multiple of 32). */
// @ts-ignore: decorator
@inline export function activationUnit(gp: i32): i32 {
  return gp & 63 ? 32 : 64
}

/** q = round-to-nearest-even(x · inv) as i32 lanes: adding 1.5·2²³ rounds, the low mantissa bits are q. */
// @ts-ignore: decorator
@inline function round4(x: v128, inv: v128): v128 {
  return i32x4.sub(f32x4.add(f32x4.mul(x, inv), f32x4.splat(12582912.0)), i32x4.splat(0x4b400000))
}

/**
 * One run of 32 real columns at src quantised with inv (127 / the unit's max|x|): 32 i8 at q, the
 * permuted i16 copy at o16 unless o16 = 0 (see quantize_rows_i8). Returns Σq in four i32 lanes.
 */
// @ts-ignore: decorator
@inline function run32(src: usize, q: usize, o16: usize, inv: v128): v128 {
  const q0 = round4(v128.load(src), inv)
  const q1 = round4(v128.load(src, 16), inv)
  const q2 = round4(v128.load(src, 32), inv)
  const q3 = round4(v128.load(src, 48), inv)
  const q4 = round4(v128.load(src, 64), inv)
  const q5 = round4(v128.load(src, 80), inv)
  const q6 = round4(v128.load(src, 96), inv)
  const q7 = round4(v128.load(src, 112), inv)
  const a = i16x8.narrow_i32x4_s(q0, q1) // q[0..7] as i16
  const b = i16x8.narrow_i32x4_s(q2, q3)
  const c = i16x8.narrow_i32x4_s(q4, q5)
  const d = i16x8.narrow_i32x4_s(q6, q7)
  v128.store(q, i8x16.narrow_i16x8_s(a, b))
  v128.store(q, i8x16.narrow_i16x8_s(c, d), 16)
  if (o16 != 0) {
    v128.store(o16, i16x8.shl(i8x16.shuffle(a, b, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29), 8))
    v128.store(o16, i16x8.shl(i8x16.shuffle(c, d, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29), 4), 16)
    v128.store(o16, i8x16.shuffle(a, b, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31), 32)
    v128.store(o16, i16x8.shl(i8x16.shuffle(c, d, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31), 8), 48)
  }
  return i32x4.add(i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3)), i32x4.add(i32x4.add(q4, q5), i32x4.add(q6, q7)))
}

/** One unit of R = 1 or 2 whole runs (a literal), vectorised: its scale at scaleAt and Σq at sumAt. */
// @ts-ignore: decorator
@inline function unitFull(src: usize, q: usize, o16: usize, scaleAt: usize, sumAt: usize, R: i32): void {
  let m = f32x4.abs(v128.load(src))
  for (let j = 16; j < R << 7; j += 16) m = f32x4.pmax(m, f32x4.abs(v128.load(src + <usize>j)))
  m = f32x4.pmax(m, i32x4.shuffle(m, m, 2, 3, 0, 1))
  const maxAbs = f32x4.extract_lane(f32x4.pmax(m, i32x4.shuffle(m, m, 1, 0, 3, 2)), 0)
  const inv = f32x4.splat(maxAbs > 0 ? <f32>127.0 / maxAbs : 0)
  let sv = run32(src, q, o16, inv)
  if (R == 2) sv = i32x4.add(sv, run32(src + 128, q + 32, o16 != 0 ? o16 + 64 : 0, inv))
  sv = i32x4.add(sv, i32x4.shuffle(sv, sv, 2, 3, 0, 1))
  store<i32>(sumAt, i32x4.extract_lane(i32x4.add(sv, i32x4.shuffle(sv, sv, 1, 0, 3, 2)), 0))
  store<f32>(scaleAt, maxAbs / <f32>127.0)
}

/** A unit of `unit` padded columns with n < unit real ones (groups that are not a multiple of it), scalar; padding is 0. */
// @ts-ignore: decorator
@inline function unitPartial(src: usize, n: i32, unit: i32, q: usize, o16: usize, scaleAt: usize, sumAt: usize): void {
  let maxAbs: f32 = 0
  for (let j = 0; j < n; j++) maxAbs = max(maxAbs, abs(load<f32>(src + (<usize>j << 2))))
  const inv: f32 = maxAbs > 0 ? <f32>127.0 / maxAbs : 0
  let sum = 0
  for (let j = 0; j < unit; j++) {
    const v = j < n ? <i32>nearest(load<f32>(src + (<usize>j << 2)) * inv) : 0
    store<i8>(q + <usize>j, <i8>v)
    sum += v
  }
  store<f32>(scaleAt, maxAbs / <f32>127.0)
  store<i32>(sumAt, sum)
  if (o16 == 0) return
  for (let k = 0; k < unit; k += 32) {
    const qk = q + <usize>k
    const ok = o16 + (<usize>k << 1)
    for (let j = 0; j < 8; j++) {
      store<i16>(ok + (<usize>j << 1), <i16>(<i32>load<i8>(qk + <usize>(2 * j)) << 8))
      store<i16>(ok + (<usize>(8 + j) << 1), <i16>(<i32>load<i8>(qk + <usize>(16 + 2 * j)) << 4))
      store<i16>(ok + (<usize>(16 + j) << 1), load<i8>(qk + <usize>(2 * j + 1)))
      store<i16>(ok + (<usize>(24 + j) << 1), <i16>(<i32>load<i8>(qk + <usize>(17 + 2 * j)) << 8))
    }
  }
}

/**
 * Quantises x[T, cols] to xq[T, colsPadded] (i8), scales[T, units] (f32) and sums[T, units] (i32),
 * units = colsPadded / activationUnit(gp). When x16 ≠ 0 it also writes x16[T, colsPadded] (i16) with
 * each 32-column run permuted to [0,2,…,14, 16,18,…,30, 1,3,…,15, 17,19,…,31]: the order in which the
 * plain-SIMD int4 kernel unpacks nibbles from 16-bit lanes (kernels/matmul_q4.ts), and the four
 * quarters pre-multiplied by 256, 16, 1 and 256 (|q| ≤ 127, so 256·q still fits i16): the kernel
 * then masks the nibbles in place instead of shifting each down, and every product carries 256.
 */
export function quantize_rows_i8(
  x: usize, T: i32, cols: i32, group: i32,
  xq: usize, scales: usize, sums: usize, x16: usize,
): void {
  const gp = (group + 31) & ~31
  const unit = activationUnit(gp)
  const groups = cols / group
  const padded = groups * gp
  const units = padded / unit
  for (let t = 0; t < T; t++) {
    const xRow = x + <usize>t * <usize>cols * 4
    const qRow = xq + <usize>t * <usize>padded
    for (let u = 0; u < units; u++) {
      const p0 = u * unit // first padded column of this unit
      const g = p0 / gp
      const within = p0 - g * gp
      const n = min(unit, group - within) // real columns in this unit
      const src = xRow + (<usize>(g * group + within) << 2)
      const q = qRow + <usize>p0
      const s = <usize>(t * units + u) << 2
      const o16 = x16 != 0 ? x16 + ((<usize>t * <usize>padded + <usize>p0) << 1) : 0
      if (n < unit) unitPartial(src, n, unit, q, o16, scales + s, sums + s)
      else if (unit == 64) unitFull(src, q, o16, scales + s, sums + s, 2)
      else unitFull(src, q, o16, scales + s, sums + s, 1)
    }
  }
}
