// Reading a bundle (src/bundle/format.ts) as a WeightReader: every data file is checked against the
// manifest (size, sha-256) before any tensor is used; tensors are typed-array views into the files.
// Must not import: Node built-ins (files come through a CheckpointSource), worker/, any backend.
import type { MatrixSource } from '../backend.ts'
import type { CheckpointSource } from '../checkpoint.ts'
import { parseConfig, type HymbaConfig } from '../config.ts'
import { BadCheckpoint } from '../errors.ts'
import type { WeightReader } from '../weights.ts'
import { decodeHalf } from './f16.ts'
import { ALIGN, MANIFEST_FILE, parseManifest, sha256Hex, type BundleFile, type BundleManifest, type TensorEntry } from './format.ts'

export interface Bundle {
  readonly manifest: BundleManifest
  readonly config: HymbaConfig
  readonly reader: WeightReader
}

export async function isBundle(source: CheckpointSource): Promise<boolean> {
  return source.exists(MANIFEST_FILE)
}

/** Read manifest.json and every data file it lists, refusing any file that is missing, truncated or corrupt. */
export async function openBundle(source: CheckpointSource): Promise<Bundle> {
  const manifest = parseManifest(await source.read(MANIFEST_FILE))
  const config = parseConfig(manifest.config)
  const used = new Set(manifest.tensors.flatMap((t) => t.parts.map((p) => p.file)))
  const files = new Map<string, Uint8Array>()
  for (const file of manifest.files) if (used.has(file.name)) files.set(file.name, await readVerified(source, file))
  const tensors = new Map(manifest.tensors.map((t) => [t.name, t]))
  const entry = (name: string, shape: readonly number[]): TensorEntry => {
    const t = tensors.get(name)
    if (!t) throw new BadCheckpoint(`${source.name}/${MANIFEST_FILE}`, 'missing tensor', name)
    const same = t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i])
    if (!same) throw new BadCheckpoint(`${source.name}/${MANIFEST_FILE}`, `wrong shape [${t.shape}], expected [${shape}]`, name)
    return t
  }
  const view = viewer(files)
  return {
    manifest,
    config,
    reader: {
      has: (name) => tensors.has(name),
      f32(name, shape) {
        const t = entry(name, shape)
        if (t.format === 'q8' || t.format === 'q4') throw new BadCheckpoint(`${source.name}/${MANIFEST_FILE}`, `format ${t.format} where a float tensor is expected`, name)
        return floats(t, view)
      },
      matrix(name, rows, cols): MatrixSource {
        const t = entry(name, [rows, cols])
        if (t.format === 'f32' || t.format === 'f16') return { format: 'f32', rows, cols, data: floats(t, view) }
        const group = t.group!
        const scales = view(t, Float32Array, (p) => p.scalesOffset!, cols / group)
        if (t.format === 'q8') return { format: 'q8', rows, cols, group, data: view(t, Int8Array, (p) => p.offset, cols), scales }
        return { format: 'q4', rows, cols, group, data: view(t, Uint8Array, (p) => p.offset, cols / 2), scales }
      },
    },
  }
}

/** A file's bytes, after checking its size and sha-256 against the manifest. */
async function readVerified(source: CheckpointSource, file: BundleFile): Promise<Uint8Array> {
  const name = `${source.name}/${file.name}`
  let bytes = await source.read(file.name) // a missing file is a BadCheckpoint naming it (CheckpointSource)
  if (bytes.byteLength !== file.bytes) {
    throw new BadCheckpoint(name, bytes.byteLength < file.bytes ? `truncated: ${bytes.byteLength} of ${file.bytes} bytes` : `${bytes.byteLength} bytes, manifest.json says ${file.bytes}`)
  }
  const sha256 = await sha256Hex(bytes)
  if (sha256 !== file.sha256) throw new BadCheckpoint(name, `corrupt: sha-256 ${sha256} does not match manifest.json (${file.sha256})`)
  if (bytes.byteOffset % ALIGN !== 0) bytes = bytes.slice() // aligned parts need an aligned file start
  return bytes
}

type View = <A extends Float32Array | Int8Array | Uint8Array | Uint16Array>(
  t: TensorEntry,
  make: { new (buffer: ArrayBuffer, byteOffset: number, length: number): A; new (length: number): A },
  at: (part: TensorEntry['parts'][number]) => number,
  perRow: number,
) => A

/** Typed views over the parts of a tensor: in place for one part, joined into a copy for several. */
function viewer(files: Map<string, Uint8Array>): View {
  return (t, make, at, perRow) => {
    const piece = (p: TensorEntry['parts'][number]) => {
      const bytes = files.get(p.file)!
      return new make(bytes.buffer as ArrayBuffer, bytes.byteOffset + at(p), (p.rows[1] - p.rows[0]) * perRow)
    }
    if (t.parts.length === 1) return piece(t.parts[0])
    const joined = new make(t.shape[0] * perRow)
    for (const p of t.parts) joined.set(piece(p), p.rows[0] * perRow)
    return joined
  }
}

/** An f32 or f16 tensor as float32 (f16 widened exactly). */
function floats(t: TensorEntry, view: View): Float32Array {
  const perRow = t.shape.slice(1).reduce((a, b) => a * b, 1)
  if (t.format === 'f32') return view(t, Float32Array, (p) => p.offset, perRow)
  return decodeHalf(view(t, Uint16Array, (p) => p.offset, perRow))
}
