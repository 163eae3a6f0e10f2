// Reading HF checkpoints: the file-source abstraction and safetensors parsing (single file or
// sharded via model.safetensors.index.json), with F32 / BF16 / F16 widened exactly to float32.
// Must not import: worker/, Node built-ins (the Node folder source lives in src/node/).
import { fromHalfBits } from './bundle/f16.ts'
import { BadCheckpoint } from './errors.ts'

/** A model folder: HF files by name. Implemented over the file system, static assets, R2... */
export interface CheckpointSource {
  readonly name: string
  read(file: string): Promise<Uint8Array>
  exists(file: string): Promise<boolean>
}

export interface TensorInfo {
  readonly file: string
  readonly dtype: keyof typeof ELEMENT_BYTES
  readonly shape: readonly number[]
  readonly bytes: Uint8Array // the raw little-endian data
}

/** Tensors of a checkpoint by HF name, read lazily file by file. */
export class TensorStore {
  private constructor(private readonly tensors: Map<string, TensorInfo>) {}

  static async open(source: CheckpointSource): Promise<TensorStore> {
    const files = await shardFiles(source)
    const tensors = new Map<string, TensorInfo>()
    for (const file of files) {
      for (const [name, info] of parseSafetensors(file, await source.read(file))) {
        if (tensors.has(name)) throw new BadCheckpoint(file, 'tensor appears in two files', name)
        tensors.set(name, info)
      }
    }
    return new TensorStore(tensors)
  }

  has(name: string): boolean {
    return this.tensors.has(name)
  }

  names(): string[] {
    return [...this.tensors.keys()]
  }

  /** The tensor as float32, checking its shape. */
  f32(name: string, shape: readonly number[]): Float32Array {
    const info = this.tensors.get(name)
    if (!info) throw new BadCheckpoint('checkpoint', 'missing tensor', name)
    const same = info.shape.length === shape.length && info.shape.every((d, i) => d === shape[i])
    if (!same) throw new BadCheckpoint(info.file, `wrong shape [${info.shape}], expected [${shape}]`, name)
    const { dtype } = info
    if (dtype === 'I64' || dtype === 'I32') throw new BadCheckpoint(info.file, `dtype ${dtype} where a float tensor is expected`, name)
    return toFloat32({ ...info, dtype })
  }
}

async function shardFiles(source: CheckpointSource): Promise<string[]> {
  if (await source.exists('model.safetensors.index.json')) {
    const text = new TextDecoder().decode(await source.read('model.safetensors.index.json'))
    let index: { weight_map?: Record<string, string> }
    try {
      index = JSON.parse(text)
    } catch {
      throw new BadCheckpoint('model.safetensors.index.json', 'not valid JSON')
    }
    if (!index.weight_map || typeof index.weight_map !== 'object') throw new BadCheckpoint('model.safetensors.index.json', 'no weight_map')
    return [...new Set(Object.values(index.weight_map))].sort()
  }
  if (await source.exists('model.safetensors')) return ['model.safetensors']
  throw new BadCheckpoint(source.name, 'no model.safetensors or model.safetensors.index.json')
}

const ELEMENT_BYTES = { F32: 4, BF16: 2, F16: 2, I64: 8, I32: 4 } as const

/** Parse one safetensors file: 8-byte LE header length, JSON header, data (offsets relative to it). */
export function parseSafetensors(file: string, bytes: Uint8Array): Map<string, TensorInfo> {
  if (bytes.byteLength < 8) throw new BadCheckpoint(file, `truncated: ${bytes.byteLength} bytes`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const headerLength = Number(view.getBigUint64(0, true))
  if (8 + headerLength > bytes.byteLength) throw new BadCheckpoint(file, `truncated or corrupt: header of ${headerLength} bytes in a ${bytes.byteLength}-byte file`)
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)))
  } catch {
    throw new BadCheckpoint(file, 'corrupt: header is not valid JSON')
  }
  const dataStart = 8 + headerLength
  const tensors = new Map<string, TensorInfo>()
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue
    const { shape, data_offsets: offsets } = entry
    const dtype = entry.dtype as TensorInfo['dtype']
    if (!(dtype in ELEMENT_BYTES)) throw new BadCheckpoint(file, `unsupported dtype ${dtype}`, name)
    const count = shape.reduce((a, b) => a * b, 1)
    const [begin, end] = offsets
    if (end - begin !== count * ELEMENT_BYTES[dtype]) throw new BadCheckpoint(file, `corrupt: ${end - begin} bytes for shape [${shape}] ${dtype}`, name)
    if (dataStart + end > bytes.byteLength) throw new BadCheckpoint(file, `truncated: tensor data ends at ${dataStart + end}, file has ${bytes.byteLength} bytes`, name)
    tensors.set(name, { file, dtype, shape, bytes: bytes.subarray(dataStart + begin, dataStart + end) })
  }
  return tensors
}

/** Widen to float32 exactly (bf16 and f16 are subsets of f32). */
function toFloat32(info: TensorInfo & { dtype: 'F32' | 'BF16' | 'F16' }): Float32Array {
  const n = info.bytes.byteLength / ELEMENT_BYTES[info.dtype]
  const view = new DataView(info.bytes.buffer, info.bytes.byteOffset, info.bytes.byteLength)
  const out = new Float32Array(n)
  if (info.dtype === 'F32') {
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true)
  } else if (info.dtype === 'BF16') {
    const bits = new Uint32Array(out.buffer)
    for (let i = 0; i < n; i++) bits[i] = view.getUint16(2 * i, true) << 16
  } else {
    for (let i = 0; i < n; i++) out[i] = fromHalfBits(view.getUint16(2 * i, true))
  }
  return out
}
