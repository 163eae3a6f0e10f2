// Test support without Node built-ins (bundled into browser test pages too): the reference fixtures'
// cases.safetensors parsed into prompt/decode ids and NVIDIA's logits, and argmax per row.
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
