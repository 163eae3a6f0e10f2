// Test support: the reference fixtures in ../shared/reference (logits of NVIDIA's code) and
// helpers that compare float arrays with a readable failure message.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseSafetensors } from '../../src/checkpoint.ts'

export const SHARED = process.env.HYMBA_SHARED ?? join(import.meta.dirname, '..', '..', '..', 'shared')
export const fixtureDir = (name: string) => join(SHARED, 'reference', name)

export interface Fixture {
  readonly promptIds: number[]
  readonly decodeIds: number[]
  readonly logitsPrefill: Float32Array // [P, V]
  readonly logitsDecode: Float32Array // [S, V]
  readonly logitsFull: Float32Array // [P+S, V]
  readonly hiddenPrefill: Float32Array // [layers+1, M+P, H]
}

export function readFixture(name: string): Fixture {
  const file = join(fixtureDir(name), 'cases.safetensors')
  const tensors = parseSafetensors(file, new Uint8Array(readFileSync(file)))
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
    while (!(Math.abs(actual[first] - expected[first]) <= tol)) first++
    throw new Error(`${what}: first bad index ${first}: ${actual[first]} vs ${expected[first]}; max error ${max} at ${index} (tol ${tol})`)
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
