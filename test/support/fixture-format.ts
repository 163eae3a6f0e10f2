// Test support without Node built-ins (bundled into browser test pages too): the reference fixtures'
// cases.safetensors parsed into prompt/decode ids and NVIDIA's logits, argmax per row, and float
// comparisons that fail with the first bad index, both values and the max error.
import { parseSafetensors } from '../../src/checkpoint.ts'

export interface Fixture {
  readonly promptIds: number[]
  readonly decodeIds: number[]
  readonly logitsPrefill: Float32Array // [P, V]
  readonly logitsDecode: Float32Array // [S, V]
  readonly logitsFull: Float32Array // [P+S, V]
  readonly hiddenPrefill: Float32Array // [layers+1, M+P, H]
}

/** `bytes` of a fixture's cases.safetensors (named `file` in errors). */
export function parseFixture(file: string, bytes: Uint8Array): Fixture {
  const tensors = parseSafetensors(file, bytes)
  const f32 = (key: string) => {
    const t = tensors.get(key)!
    return new Float32Array(t.bytes.slice().buffer)
  }
  const ids = (key: string) => Array.from(new BigInt64Array(tensors.get(key)!.bytes.slice().buffer), Number)
  return {
    promptIds: ids('prompt_ids'),
    decodeIds: ids('decode_ids'),
    logitsPrefill: f32('logits_prefill'),
    logitsDecode: f32('logits_decode'),
    logitsFull: f32('logits_full'),
    hiddenPrefill: f32('hidden_prefill'),
  }
}

export function argmaxRows(logits: ArrayLike<number>, V: number): number[] {
  const out: number[] = []
  for (let r = 0; r < logits.length / V; r++) {
    let best = 0
    for (let v = 1; v < V; v++) if (logits[r * V + v] > logits[r * V + best]) best = v
    out.push(best)
  }
  return out
}

/** Max |a − b| and where it occurs. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; index: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} ≠ ${b.length}`)
  let max = 0
  let index = -1
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i])
    if (!(d <= max)) {
      max = d
      index = i
    }
  }
  return { max, index }
}

/** Throws with the first bad index, both values and the max error when |a − b| > tol anywhere. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`)
  const { max, index } = maxDiff(actual, expected)
  if (!(max <= tol)) {
    let first = 0
    while (Math.abs(actual[first] - expected[first]) <= tol) first++
    throw new Error(`${what}: first bad index ${first}: ${actual[first]} vs ${expected[first]}; max error ${max} at ${index} (tol ${tol})`)
  }
}
