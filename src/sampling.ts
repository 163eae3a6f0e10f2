// Sampling the next token from logits: greedy, temperature, top-k, top-p, with a seeded PRNG so a
// seed reproduces a completion; log-probabilities for the API.
// Must not import: worker/, Node built-ins.

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

/** log softmax(logits)[id] for each id, computed once per distribution. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i]
  let sum = 0
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max)
  const logZ = max + Math.log(sum)
  const out = new Float64Array(logits.length)
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] - logZ
  return out
}

/** log softmax(logits)[id] alone, without allocating (perplexity scoring). */
export function logProbOf(logits: ArrayLike<number>, id: number): number {
  let max = -Infinity
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i]
  let sum = 0
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max)
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

export class Sampler {
  private readonly random: () => number

  constructor(private readonly options: SamplerOptions = {}) {
    this.random = seededRandom(options.seed ?? (Math.random() * 2 ** 32) >>> 0)
  }

  sample(logits: ArrayLike<number>): number {
    const temperature = this.options.temperature ?? 1
    if (temperature <= 0) return argmax(logits)
    const topK = this.options.topK ?? 0
    const topP = this.options.topP ?? 1
    // Candidates sorted by logit, largest first (top-k bounds the sort when set).
    const candidates = topK > 0 && topK < logits.length ? topIds(logits, topK) : Array.from(logits, (_, i) => i).sort((a, b) => logits[b] - logits[a])
    const max = logits[candidates[0]]
    const weights = candidates.map((i) => Math.exp((logits[i] - max) / temperature))
    const total = weights.reduce((a, b) => a + b, 0)
    let keep = candidates.length
    if (topP < 1) {
      let mass = 0
      for (let i = 0; i < candidates.length; i++) {
        mass += weights[i] / total
        if (mass >= topP) {
          keep = i + 1
          break
        }
      }
    }
    const kept = weights.slice(0, keep).reduce((a, b) => a + b, 0)
    let r = this.random() * kept
    for (let i = 0; i < keep; i++) {
      r -= weights[i]
      if (r < 0) return candidates[i]
    }
    return candidates[keep - 1]
  }
}
