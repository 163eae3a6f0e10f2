// Reading a bundle (src/bundle/format.ts): tensors come out as typed-array views into their data
// files, and every data file is checked against the manifest (size, sha-256) before any tensor in
// it is used. The model loads file by file (`stages`): one file is read, checked, its tensors handed
// out, then its bytes dropped, so loading holds the prepared weights plus one file, not the whole
// bundle (issue 3, 128 MB). `readAll` reads every file at once for consumers that need a plain
// WeightReader (the WebGPU upload).
// Must not import: Node built-ins (files come through a CheckpointSource), worker/, any backend.
import type { MatrixSource } from '../backend.ts'
import type { CheckpointSource } from '../checkpoint.ts'
import { parseConfig, type HymbaConfig } from '../config.ts'
import { BadCheckpoint } from '../errors.ts'
import type { StagedWeights, WeightReader, WeightStage } from '../weights.ts'
import { decodeHalf } from './f16.ts'
import { ALIGN, MANIFEST_FILE, alignUp, parseManifest, partBytes, partSpan, sha256Hex, type BundleFile, type BundleManifest, type TensorEntry } from './format.ts'

export interface Bundle {
  readonly manifest: BundleManifest
  readonly config: HymbaConfig
  /** The tensors file by file, each file checked before its tensors are handed out. */
  readonly weights: StagedWeights
  /** Read and check every data file, then read tensors from any of them. */
  readAll(): Promise<WeightReader>
}

export async function isBundle(source: CheckpointSource): Promise<boolean> {
  return source.exists(MANIFEST_FILE)
}

/** Read and check manifest.json; data files are read later, by `weights` or `readAll`. */
export async function openBundle(source: CheckpointSource): Promise<Bundle> {
  const manifest = parseManifest(await source.read(MANIFEST_FILE))
  const config = parseConfig(manifest.config)
  const tensors = new Map(manifest.tensors.map((t) => [t.name, t]))
  const manifestName = `${source.name}/${MANIFEST_FILE}`
  const entry = (name: string, shape: readonly number[]): TensorEntry => {
    const t = tensors.get(name)
    if (!t) throw new BadCheckpoint(manifestName, 'missing tensor', name)
    const same = t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i])
    if (!same) throw new BadCheckpoint(manifestName, `wrong shape [${t.shape}], expected [${shape}]`, name)
    return t
  }
  const fileInfo = new Map(manifest.files.map((f) => [f.name, f]))
  const read = (file: string) => readVerified(source, fileInfo.get(file)!)
  const filesOf = (t: TensorEntry) => new Set(t.parts.map((p) => p.file))
  return {
    manifest,
    config,
    weights: {
      async *stages(shapes): AsyncGenerator<WeightStage> {
        for (const [name, shape] of shapes) entry(name, shape) // every tensor is there, in shape, before any file is read
        let pending = manifest.tensors.filter((t) => shapes.has(t.name))
        // checked data files, and split tensors joined into buffers of their own as their files are
        // read (so no file is kept for a part in a later one)
        const files = new Map<string, Uint8Array>()
        const joined = new Map<string, JoinedTensor>()
        const stageEntry = (name: string, shape: readonly number[]) => {
          const t = entry(name, shape)
          return joined.get(name)?.entry ?? t
        }
        const needs = (t: TensorEntry, file: string) => (t.parts.length > 1 ? file === JoinedTensor.file(t.name) : filesOf(t).has(file))
        // not inline: a generator's locals outlive a yield, and would keep the previous file alive
        const take = async (file: string) => {
          const bytes = await read(file)
          files.set(file, bytes)
          for (const t of pending) {
            if (t.parts.length === 1 || !filesOf(t).has(file)) continue
            if (!joined.has(t.name)) joined.set(t.name, new JoinedTensor(t))
            joined.get(t.name)!.add(file, bytes)
            files.set(JoinedTensor.file(t.name), joined.get(t.name)!.bytes)
          }
        }
        for (const file of manifest.files) {
          if (!pending.some((t) => filesOf(t).has(file.name))) continue
          await take(file.name)
          const ready = pending.filter((t) => (t.parts.length > 1 ? joined.get(t.name)?.complete : [...filesOf(t)].every((f) => files.has(f))))
          pending = pending.filter((t) => !ready.includes(t))
          yield { names: ready.map((t) => t.name), reader: tensorReader(manifestName, tensors, stageEntry, files) }
          for (const name of files.keys()) if (!pending.some((t) => needs(t, name))) files.delete(name) // done with it: let it go
          for (const t of ready) joined.delete(t.name)
        }
      },
    },
    async readAll() {
      const files = new Map<string, Uint8Array>()
      for (const file of new Set(manifest.tensors.flatMap((t) => [...filesOf(t)]))) files.set(file, await read(file))
      return tensorReader(manifestName, tensors, entry, files)
    },
  }
}

/** A tensor stored in parts across files, copied part by part into one buffer laid out as a single part. */
class JoinedTensor {
  static file = (tensor: string) => `(joined) ${tensor}` // its key among the files: never a valid file name
  readonly entry: TensorEntry
  readonly bytes: Uint8Array
  private readonly rowData: number // bytes of one row's data
  private readonly rowScales: number // bytes of one row's scales (q8 / q4)
  private copied = 0

  constructor(private readonly tensor: TensorEntry) {
    const cols = tensor.shape.slice(1).reduce((a, b) => a * b, 1)
    const rows = tensor.shape[0]
    const { data, scales } = partBytes(tensor.format, rows, cols, tensor.group)
    this.rowData = data / rows
    this.rowScales = scales / rows
    const part = { file: JoinedTensor.file(tensor.name), rows: [0, rows] as const, offset: 0, byteLength: data }
    this.entry = { ...tensor, parts: [scales ? { ...part, scalesOffset: alignUp(data) } : part] }
    this.bytes = new Uint8Array(partSpan(tensor.format, rows, cols, tensor.group))
  }

  get complete(): boolean {
    return this.copied === this.tensor.parts.length
  }

  /** Copy the parts that lie in `file` (checked bytes). */
  add(file: string, bytes: Uint8Array): void {
    for (const p of this.tensor.parts) {
      if (p.file !== file) continue
      const [first, end] = p.rows
      this.bytes.set(bytes.subarray(p.offset, p.offset + (end - first) * this.rowData), first * this.rowData)
      if (this.rowScales) this.bytes.set(bytes.subarray(p.scalesOffset!, p.scalesOffset! + (end - first) * this.rowScales), this.entry.parts[0].scalesOffset! + first * this.rowScales)
      this.copied++
    }
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

/** Tensors as views into checked files (`files` must hold every file of a tensor read). */
function tensorReader(manifestName: string, tensors: ReadonlyMap<string, TensorEntry>, entry: (name: string, shape: readonly number[]) => TensorEntry, files: ReadonlyMap<string, Uint8Array>): WeightReader {
  const view = viewer(files)
  return {
    has: (name) => tensors.has(name),
    f32(name, shape) {
      const t = entry(name, shape)
      if (t.format === 'q8' || t.format === 'q4') throw new BadCheckpoint(manifestName, `format ${t.format} where a float tensor is expected`, name)
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
  }
}
type View = <A extends Float32Array | Int8Array | Uint8Array | Uint16Array>(
  t: TensorEntry,
  make: { new (buffer: ArrayBuffer, byteOffset: number, length: number): A; new (length: number): A },
  at: (part: TensorEntry['parts'][number]) => number,
  perRow: number,
) => A

/** Typed views over the parts of a tensor: in place for one part, joined into a copy for several. */
function viewer(files: ReadonlyMap<string, Uint8Array>): View {
  return (t, make, at, perRow) => {
    const piece = (p: TensorEntry['parts'][number]) => {
      const bytes = files.get(p.file)
      if (!bytes) throw new Error(`${t.name}: ${p.file} is not loaded`) // a bug in the staging, not a bad bundle
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
