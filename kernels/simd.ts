// Shared SIMD helpers for the kernels: horizontal sums, tail loads, a vector exp and SiLU.
// Owns: nothing exported to the host (every function here is inlined into a kernel); a static
// table of the vector math's constants.
// Must not import: anything (AssemblyScript std builtins only).

/** Sums of four vectors at once: [Σa0, Σa1, Σa2, Σa3] (a 4×4 transpose-add, f32 lanes). */
// @ts-ignore: decorator
@inline export function hsum4f(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const s01 = f32x4.add(i32x4.shuffle(a0, a1, 0, 4, 1, 5), i32x4.shuffle(a0, a1, 2, 6, 3, 7))
  const s23 = f32x4.add(i32x4.shuffle(a2, a3, 0, 4, 1, 5), i32x4.shuffle(a2, a3, 2, 6, 3, 7))
  return f32x4.add(i32x4.shuffle(s01, s23, 0, 1, 4, 5), i32x4.shuffle(s01, s23, 2, 3, 6, 7))
}

/** The same transpose-add for i32 lanes. */
// @ts-ignore: decorator
@inline export function hsum4i(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const s01 = i32x4.add(i32x4.shuffle(a0, a1, 0, 4, 1, 5), i32x4.shuffle(a0, a1, 2, 6, 3, 7))
  const s23 = i32x4.add(i32x4.shuffle(a2, a3, 0, 4, 1, 5), i32x4.shuffle(a2, a3, 2, 6, 3, 7))
  return i32x4.add(i32x4.shuffle(s01, s23, 0, 1, 4, 5), i32x4.shuffle(s01, s23, 2, 3, 6, 7))
}

/** Σ of the four f32 lanes. */
// @ts-ignore: decorator
@inline export function hsum(a: v128): f32 {
  const s = f32x4.add(a, i32x4.shuffle(a, a, 2, 3, 0, 1))
  return f32x4.extract_lane(f32x4.add(s, i32x4.shuffle(s, s, 1, 0, 3, 2)), 0)
}

/** Loads n ∈ 1..3 floats from ptr into the low lanes; the other lanes are 0 (never reads past ptr + 4n). */
// @ts-ignore: decorator
@inline export function loadTail(ptr: usize, n: i32): v128 {
  let v = f32x4.replace_lane(f32x4.splat(0), 0, load<f32>(ptr))
  if (n > 1) v = f32x4.replace_lane(v, 1, load<f32>(ptr, 4))
  if (n > 2) v = f32x4.replace_lane(v, 2, load<f32>(ptr, 8))
  return v
}

/** Stores the first n lanes of v (all four when n ≥ 4). */
// @ts-ignore: decorator
@inline export function storeLanes(ptr: usize, v: v128, n: i32): void {
  if (n >= 4) {
    v128.store(ptr, v)
    return
  }
  store<f32>(ptr, f32x4.extract_lane(v, 0))
  if (n > 1) store<f32>(ptr, f32x4.extract_lane(v, 1), 4)
  if (n > 2) store<f32>(ptr, f32x4.extract_lane(v, 2), 8)
}

/** The outputs of four 4-row blocks starting at rows r0, r0 + rq, r0 + 2rq, r0 + 3rq (storeLanes each). */
// @ts-ignore: decorator
@inline export function storeBlocks4(out: usize, rows: i32, r0: i32, rq: i32, a0: v128, a1: v128, a2: v128, a3: v128): void {
  storeLanes(out + (<usize>r0 << 2), a0, rows - r0)
  storeLanes(out + (<usize>(r0 + rq) << 2), a1, rows - r0 - rq)
  storeLanes(out + (<usize>(r0 + 2 * rq) << 2), a2, rows - r0 - 2 * rq)
  storeLanes(out + (<usize>(r0 + 3 * rq) << 2), a3, rows - r0 - 3 * rq)
}

// V8 (x64) rebuilds a v128 constant at every use (movabs, vmovq, vpunpcklqdq), never hoisted out of a
// loop: in exp4 that was more than half the instructions. The constants of the vector math below
// are broadcast from this table instead, one vbroadcastss each: K(i) is entry i in all four lanes.
const TABLE = memory.data<f32>([
  88.0, -87.33654, 1.44269504088896341, 12582912.0, 0.693359375, 2.12194440e-4, // 0–5: exp4 range reduction (4, 5: ln 2 in two parts, log4Unit too)
  1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1, // 6–11: exp4 polynomial
  1.0, 0.5, 20.0, 1.41421356, // 12–15: one, half, softplus threshold, √2
  7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1, // 16–24: log4Unit polynomial
  -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
  -0.693359375, // 25: −(ln 2 hi), so that exp4's range reduction is one multiply-add
])
const EXP_BIAS = memory.data<i32>([127])
const ONE = 12
const HALF = 13
// @ts-ignore: decorator
@inline function K(i: i32): v128 {
  return v128.load32_splat(TABLE + (<usize>i << 2))
}

/**
 * e^x per lane (Cephes expf: range reduction by ln 2 in two parts, degree-5 polynomial), relative
 * error ≈ 2 ulp. Inputs are clamped to [−87.34, 88]: below, the result is ≈ 1.2e−38 instead of a
 * denormal; above, e^88 instead of overflow; NaN stays NaN. n = round(x·log2 e) comes from adding
 * 1.5·2²³ (the f32 add rounds to nearest even, like f32x4.nearest), which also leaves n in the low
 * mantissa bits, so 2ⁿ is that word + 127 shifted into the exponent: pmin/pmax and this trick are
 * single x64 instructions where min/max/nearest/trunc_sat are sequences in V8. exp4<Relaxed> does
 * each multiply and add as one fused multiply-add (17 vector operations instead of 26).
 */
// @ts-ignore: decorator
@inline export function exp4<V>(x: v128): v128 {
  x = f32x4.pmax(f32x4.pmin(x, K(0)), K(1))
  const shifted = madd<V>(x, K(2), K(3))
  const n = f32x4.sub(shifted, K(3))
  let r = madd<V>(n, K(25), x)
  r = madd<V>(n, K(5), r)
  let p = K(6)
  p = madd<V>(p, r, K(7))
  p = madd<V>(p, r, K(8))
  p = madd<V>(p, r, K(9))
  p = madd<V>(p, r, K(10))
  p = madd<V>(p, r, K(11))
  p = f32x4.add(madd<V>(f32x4.mul(p, r), r, r), K(ONE))
  return f32x4.mul(p, i32x4.shl(i32x4.add(shifted, v128.load32_splat(EXP_BIAS)), 23))
}

/** SiLU per lane: x · σ(x) = x / (1 + e^−x). */
// @ts-ignore: decorator
@inline export function silu4(x: v128): v128 {
  return f32x4.div(x, f32x4.add(K(ONE), exp4<Plain>(f32x4.neg(x))))
}

/** Scalar SiLU, f32. */
// @ts-ignore: decorator
@inline export function silu1(x: f32): f32 {
  return x / (<f32>1.0 + Mathf.exp(-x))
}

/** Type-level switch for kernels with a relaxed-SIMD variant: f<Plain>() or f<Relaxed>(). The
 * branch not taken is never compiled, so the plain module holds no relaxed instruction. */
export type Plain = i32
export type Relaxed = i64
// @ts-ignore: decorator
@inline export function isRelaxed<V>(): bool {
  return sizeof<V>() == 8
}

/** a·m + c: f32x4 mul then add (Plain), or one fused multiply-add (Relaxed: f32x4.relaxed_madd). */
// @ts-ignore: decorator
@inline export function madd<V>(a: v128, m: v128, c: v128): v128 {
  return isRelaxed<V>() ? f32x4.relaxed_madd(a, m, c) : f32x4.add(f32x4.mul(a, m), c)
}

/**
 * ln(u) per lane for u ∈ [1, 2] (Cephes logf: u ≤ √2 → ln(1 + f), f = u − 1; else ln 2 + ln(1 + f),
 * f = u/2 − 1; degree-9 polynomial), relative error ≈ 1 ulp.
 */
// @ts-ignore: decorator
@inline function log4Unit(u: v128): v128 {
  const big = f32x4.gt(u, K(15))
  const f = f32x4.sub(v128.bitselect(f32x4.mul(u, K(HALF)), u, big), K(ONE))
  const e = v128.and(K(ONE), big)
  const z = f32x4.mul(f, f)
  let y = K(16)
  y = f32x4.add(f32x4.mul(y, f), K(17))
  y = f32x4.add(f32x4.mul(y, f), K(18))
  y = f32x4.add(f32x4.mul(y, f), K(19))
  y = f32x4.add(f32x4.mul(y, f), K(20))
  y = f32x4.add(f32x4.mul(y, f), K(21))
  y = f32x4.add(f32x4.mul(y, f), K(22))
  y = f32x4.add(f32x4.mul(y, f), K(23))
  y = f32x4.add(f32x4.mul(y, f), K(24))
  y = f32x4.mul(f32x4.mul(y, f), z)
  y = f32x4.sub(y, f32x4.mul(e, K(5)))
  y = f32x4.sub(y, f32x4.mul(z, K(HALF)))
  return f32x4.add(f32x4.add(f, y), f32x4.mul(e, K(4)))
}

/**
 * softplus with threshold 20 per lane (spec §2.5): x > 20 ? x : ln(1 + e^x), computed as
 * max(x, 0) + log1p(e^−|x|) with log1p(y) = ln(u)·y/(u − 1), u = 1 + y (exact for tiny y).
 */
// @ts-ignore: decorator
@inline export function softplus4(x: v128): v128 {
  const y = exp4<Plain>(f32x4.neg(f32x4.abs(x)))
  const u = f32x4.add(K(ONE), y)
  const um1 = f32x4.sub(u, K(ONE))
  const exact = f32x4.eq(um1, f32x4.splat(0))
  const l1p = v128.bitselect(y, f32x4.mul(log4Unit(u), f32x4.div(y, v128.bitselect(K(ONE), um1, exact))), exact)
  const sp = f32x4.add(f32x4.max(x, f32x4.splat(0)), l1p)
  return v128.bitselect(x, sp, f32x4.gt(x, K(14)))
}
