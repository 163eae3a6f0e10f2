// Writing safetensors files (HF format) from float32 tensors, as F32 or BF16 (round to nearest even).
// Used by scripts and tests that make checkpoints; the runtime only reads (src/checkpoint.ts).
// Must not import: worker/.
import { writeFile } from 'node:fs/promises'

export interface NamedTensor {
  readonly name: string
  readonly shape: readonly number[]
  readonly data: Float32Array
}

/** bf16 bits of a float32, round to nearest even (as torch's .to(torch.bfloat16)). */
function toBf16Bits(bits: number): number {
  if ((bits & 0x7f800000) === 0x7f800000 && bits & 0x7fffff) return (bits >>> 16) | 0x40 // keep NaN a NaN
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff
}

export function encodeSafetensors(tensors: readonly NamedTensor[], dtype: 'F32' | 'BF16'): Uint8Array {
  const size = dtype === 'F32' ? 4 : 2
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } }
  let offset = 0
  for (const t of tensors) {
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length * size] }
    offset += t.data.length * size
  }
  let json = JSON.stringify(header)
  json = json.padEnd(Math.ceil((8 + json.length) / 8) * 8 - 8, ' ') // data starts 8-byte aligned
  const headerBytes = new TextEncoder().encode(json)
  const out = new Uint8Array(8 + headerBytes.length + offset)
  const view = new DataView(out.buffer)
  view.setBigUint64(0, BigInt(headerBytes.length), true)
  out.set(headerBytes, 8)
  let at = 8 + headerBytes.length
  for (const t of tensors) {
    if (dtype === 'F32') out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at)
    else {
      const bits = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length)
      for (let i = 0; i < bits.length; i++) view.setUint16(at + 2 * i, toBf16Bits(bits[i]), true)
    }
    at += t.data.length * size
  }
  return out
}

export async function writeSafetensors(path: string, tensors: readonly NamedTensor[], dtype: 'F32' | 'BF16'): Promise<void> {
  await writeFile(path, encodeSafetensors(tensors, dtype))
}
