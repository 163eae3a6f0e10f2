// Sampling the next token from logits: greedy, temperature, top-k, top-p, with a seeded PRNG so a
// seed reproduces a completion; log-probabilities for the API.
// Must not import: worker/, Node built-ins.
import type { Kernels } from './backend.ts'

export interface SamplerOptions {
  /** 0 = greedy (argmax). Default 1. */
  readonly temperature?: number
  /** Nucleus: keep the smallest set of tokens whose probability reaches top_p. Default 1. */
  readonly topP?: number
  /** Keep the k most likely tokens; 0 = all. Default 0. */
  readonly topK?: number
  readonly seed?: number
}

/** mulberry32: a small, fast, seedable PRNG with 32-bit state; returns [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function argmax(logits: ArrayLike<number>): number {
  let best = 0
  let bestValue = logits[0]
  for (let i = 1, n = logits.length; i < n; i++) {
    const v = logits[i]
    if (v > bestValue) {
      bestValue = v
      best = i
    }
  }
  return best
}

/** max(logits) and Σ e^(logit − max): log softmax(logits)[id] = logits[id] − max − ln(sum). */
function expSum(logits: ArrayLike<number>): { max: number; sum: number } {
  let max = -Infinity
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i]
  let sum = 0
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max)
  return { max, sum }
}

/** ln Σ e^logit: log softmax(logits)[id] = logits[id] − logSumExp(logits), without a [V] array. */
export function logSumExp(logits: ArrayLike<number>): number {
  const { max, sum } = expSum(logits)
  return max + Math.log(sum)
}

/** log softmax(logits)[id] for each id, computed once per distribution. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  const logZ = logSumExp(logits)
  const out = new Float64Array(logits.length)
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] - logZ
  return out
}

/** log softmax(logits)[id] alone, without allocating (perplexity scoring). */
export function logProbOf(logits: ArrayLike<number>, id: number): number {
  const { max, sum } = expSum(logits)
  return logits[id] - max - Math.log(sum)
}

/** The ids of the k largest values, largest first. */
export function topIds(values: ArrayLike<number>, k: number): number[] {
  const ids: number[] = []
  for (let i = 0; i < values.length; i++) {
    if (ids.length === k && values[i] <= values[ids[k - 1]]) continue
    let j = ids.length < k ? ids.length : k - 1
    while (j > 0 && values[ids[j - 1]] < values[i]) j--
    ids.splice(j, 0, i)
    if (ids.length > k) ids.pop()
  }
  return ids
}

/**
 * What one draw chooses among: the candidate tokens in the order the draw walks them (null: every
 * token, in id order) and their unnormalised weights e^((logit − max) / temperature), after top-k
 * and then top-p; mass = Σ weights.
 */
export interface Candidates {
  readonly ids: Int32Array | null
  readonly weights: Float64Array
  readonly mass: number
}

/**
 * The candidates of a draw at temperature > 0 (OpenAI semantics: top_k keeps the k most likely
 * tokens, then top_p the smallest set of most likely ones whose probability reaches top_p; ties go
 * to the lower id). The vocabulary is never sorted: a draw without truncation costs one e^x per
 * token, top_k a pass keeping the k best, top_p a selection by partitioning (nucleus).
 * `scratch` (length ≥ V) holds the weights of every token, else they are allocated.
 */
export function candidates(logits: ArrayLike<number>, temperature: number, topK = 0, topP = 1, scratch?: Float64Array): Candidates {
  const n = logits.length
  let max = -Infinity
  for (let i = 0; i < n; i++) if (logits[i] > max) max = logits[i]
  let ids: Int32Array | null = topK > 0 && topK < n ? Int32Array.from(topIds(logits, topK)) : null
  const count = ids ? ids.length : n
  let weights = !ids && scratch && scratch.length >= n ? scratch.subarray(0, n) : new Float64Array(count)
  for (let j = 0; j < count; j++) weights[j] = Math.exp((logits[ids ? ids[j] : j] - max) / temperature) || 0 // NaN logits weigh nothing
  if (topP < 1) {
    if (!ids) {
      ids = new Int32Array(n)
      for (let i = 0; i < n; i++) ids[i] = i
    }
    const keep = nucleus(logits, ids, weights, topP)
    ids = ids.subarray(0, keep)
    weights = weights.subarray(0, keep)
  }
  let mass = 0
  for (let j = 0; j < weights.length; j++) mass += weights[j]
  return { ids, weights, mass }
}

/**
 * Reorders ids (with their weights w, side by side) so that its first k entries are the smallest set
 * whose mass reaches topP of the whole, taking larger logits first and equal ones by id; returns k.
 * A three-way quickselect on the logits that carries the masses: O(ids) expected instead of a sort.
 */
function nucleus(logits: ArrayLike<number>, ids: Int32Array, w: Float64Array, topP: number): number {
  let total = 0
  for (let j = 0; j < w.length; j++) total += w[j]
  let target = topP * total // mass still to take
  let lo = 0 // [0, lo) kept; [lo, hi) undecided, every one below those kept
  let hi = ids.length
  const swap = (x: number, y: number) => {
    const id = ids[x]
    ids[x] = ids[y]
    ids[y] = id
    const wx = w[x]
    w[x] = w[y]
    w[y] = wx
  }
  if (!(target > 0)) {
    // no mass to reach (top_p ≤ 0, or every logit NaN or −∞): the single most likely token
    let best = 0
    for (let j = 1; j < ids.length; j++) if (logits[ids[j]] > logits[ids[best]] || (logits[ids[j]] === logits[ids[best]] && ids[j] < ids[best])) best = j
    if (ids.length > 0) swap(0, best)
    return Math.min(1, ids.length)
  }
  while (lo < hi && target > 0) {
    const pivot = logits[ids[(lo + hi) >> 1]]
    // [lo, hi) → [above | equal | below] the pivot
    let a = lo
    let e = lo
    let b = hi
    while (e < b) {
      const l = logits[ids[e]]
      if (l > pivot) swap(e++, a++)
      else if (l === pivot) e++
      else swap(e, --b)
    }
    if (e === lo) return hi // a NaN pivot: nothing to order by, keep the rest
    let massAbove = 0
    let massEqual = 0
    for (let j = lo; j < a; j++) massAbove += w[j]
    for (let j = a; j < e; j++) massEqual += w[j]
    if (massAbove >= target) {
      hi = a // the boundary is among the larger logits
      continue
    }
    target -= massAbove
    if (massEqual >= target) {
      ids.subarray(a, e).sort() // equal logits (and weights): by id
      let j = a
      while (j < e && target > 0) target -= w[j++]
      return j
    }
    target -= massEqual
    lo = e
  }
  return lo
}

export class Sampler {
  private readonly random: () => number
  private scratch = new Float64Array(0) // the weights of untruncated draws, kept between tokens

  /** kernels: a backend whose argmax takes greedy picks from Float32Array logits (the same rule, in SIMD). */
  constructor(
    private readonly options: SamplerOptions = {},
    private readonly kernels?: Pick<Kernels, 'argmax'>,
  ) {
    this.random = seededRandom(options.seed ?? (Math.random() * 2 ** 32) >>> 0)
  }

  sample(logits: ArrayLike<number>): number {
    const temperature = this.options.temperature ?? 1
    if (temperature <= 0) return this.kernels && logits instanceof Float32Array && logits.length > 0 ? this.kernels.argmax(logits, logits.length) : argmax(logits)
    if (this.scratch.length < logits.length) this.scratch = new Float64Array(logits.length)
    const { ids, weights, mass } = candidates(logits, temperature, this.options.topK ?? 0, this.options.topP ?? 1, this.scratch)
    let r = this.random() * mass
    let last = 0 // the last candidate with weight, should rounding leave r ≥ 0 after all of them
    for (let j = 0; j < weights.length; j++) {
      if (weights[j] === 0) continue
      r -= weights[j]
      last = j
      if (r < 0) break
    }
    return ids ? ids[last] : last
  }
}
