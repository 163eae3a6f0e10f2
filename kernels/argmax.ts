// Greedy selection: the index of the largest logit, in two SIMD passes over the vocabulary.
// Owns: argmax_f32.
// Must not import: anything.

/**
 * The first index of the largest of x[0, n) (n ≥ 1), with src/sampling.ts argmax's rule: a value wins
 * only by comparing greater, so NaN never wins and a NaN at index 0 keeps index 0. Pass 1 finds the
 * maximum (pmax keeps the accumulator when the compare fails, so NaN drops out); pass 2 the first
 * index holding it (±0 compare equal, as under >).
 */
export function argmax_f32(x: usize, n: i32): i32 {
  const first = load<f32>(x)
  if (first != first) return 0
  let m0 = f32x4.splat(first)
  let m1 = m0
  let m2 = m0
  let m3 = m0
  let i = 0
  for (; i + 16 <= n; i += 16) {
    const p = x + (<usize>i << 2)
    m0 = f32x4.pmax(m0, v128.load(p))
    m1 = f32x4.pmax(m1, v128.load(p, 16))
    m2 = f32x4.pmax(m2, v128.load(p, 32))
    m3 = f32x4.pmax(m3, v128.load(p, 48))
  }
  m0 = f32x4.pmax(f32x4.pmax(m0, m1), f32x4.pmax(m2, m3))
  m0 = f32x4.pmax(m0, i32x4.shuffle(m0, m0, 2, 3, 0, 1))
  m0 = f32x4.pmax(m0, i32x4.shuffle(m0, m0, 1, 0, 3, 2))
  let best = f32x4.extract_lane(m0, 0)
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2))
    if (v > best) best = v
  }
  const bv = f32x4.splat(best)
  let j = 0
  for (; j + 4 <= n; j += 4) {
    if (v128.any_true(f32x4.eq(v128.load(x + (<usize>j << 2)), bv))) break
  }
  for (; j < n; j++) if (load<f32>(x + (<usize>j << 2)) == best) return j
  return 0 // not reached: best is one of x's values
}
