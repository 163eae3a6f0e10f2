// Packs encoded tensors into bundle data files of at most `maxFileBytes` and writes the manifest
// (src/bundle/format.ts). Owns file packing, part splitting and checksums. Must not import: Node
// built-ins (files go through a BundleSink; src/node/folder-sink.ts writes them to disk), worker/.
import {
  ALIGN,
  BUNDLE_FORMAT,
  BUNDLE_VERSION,
  MANIFEST_FILE,
  alignUp,
  sha256Hex,
  type BundleFile,
  type BundleManifest,
  type Quant,
  type TensorEntry,
  type TensorFormat,
  type TensorPart,
} from './format.ts'

/** Where bundle files go: a folder, an R2 bucket, memory (tests). */
export interface BundleSink {
  /** `bytes` may be reused after the returned promise settles: copy it to keep it. */
  write(name: string, bytes: Uint8Array): Promise<void>
}

/** A tensor in its storage format: `data` holds all rows, `scales` the f32 scales of all rows (q8 / q4). */
export interface EncodedTensor {
  readonly name: string
  readonly format: TensorFormat
  readonly shape: readonly number[]
  readonly group?: number
  readonly data: Uint8Array
  readonly scales?: Float32Array
}

export class BundleWriter {
  private readonly dataFiles: BundleFile[] = []
  private readonly copiedFiles: BundleFile[] = []
  private readonly tensors: TensorEntry[] = []
  private readonly buffer: Uint8Array // the data file being filled
  private used = 0

  constructor(
    private readonly sink: BundleSink,
    private readonly maxFileBytes: number,
  ) {
    if (!(Number.isInteger(maxFileBytes) && maxFileBytes >= ALIGN)) throw new RangeError(`max file size ${maxFileBytes} is below ${ALIGN} bytes`)
    this.buffer = new Uint8Array(maxFileBytes)
  }

  /** Append a tensor: whole into the current or a fresh file when it fits one, else split by rows. */
  async add(tensor: EncodedTensor): Promise<void> {
    const rows = tensor.shape[0]
    const rowData = tensor.data.byteLength / rows
    const scaleBytes = tensor.scales ? new Uint8Array(tensor.scales.buffer, tensor.scales.byteOffset, tensor.scales.byteLength) : null
    const rowScales = scaleBytes ? scaleBytes.byteLength / rows : 0
    const span = (k: number) => (scaleBytes ? alignUp(k * rowData) + k * rowScales : k * rowData)
    const parts: TensorPart[] = []
    let first = 0
    while (first < rows) {
      const start = alignUp(this.used)
      const room = this.maxFileBytes - start
      const left = rows - first
      let fit = Math.min(left, Math.floor(Math.max(room, 0) / (rowData + rowScales)))
      while (fit > 0 && span(fit) > room) fit--
      if (fit < left && this.used > 0 && (fit === 0 || span(left) <= this.maxFileBytes)) {
        await this.flush() // starting a fresh file keeps the tensor (or more of it) in one piece
        continue
      }
      if (fit === 0) throw new RangeError(`${tensor.name}: one row needs ${span(1)} bytes, more than the ${this.maxFileBytes}-byte file limit`)
      const end = first + fit
      const dataEnd = start + fit * rowData
      this.buffer.set(tensor.data.subarray(first * rowData, end * rowData), start)
      const part: TensorPart = { file: this.currentFile(), rows: [first, end], offset: start, byteLength: fit * rowData }
      if (scaleBytes) {
        const scalesOffset = alignUp(dataEnd)
        this.buffer.set(scaleBytes.subarray(first * rowScales, end * rowScales), scalesOffset)
        parts.push({ ...part, scalesOffset })
        this.used = scalesOffset + fit * rowScales
      } else {
        parts.push(part)
        this.used = dataEnd
      }
      first = end
    }
    const { name, format, shape, group } = tensor
    this.tensors.push(group === undefined ? { name, format, shape, parts } : { name, format, shape, group, parts })
  }

  /** Copy a file into the bundle as is (config.json, tokenizer files). */
  async addFile(name: string, bytes: Uint8Array): Promise<void> {
    await this.sink.write(name, bytes)
    this.copiedFiles.push({ name, bytes: bytes.byteLength, sha256: await sha256Hex(bytes) })
  }

  /** Write the last data file and manifest.json; returns the manifest. */
  async finish(header: { quant: Quant; group: number | null; config: Record<string, unknown> }): Promise<BundleManifest> {
    if (this.used > 0) await this.flush()
    const files = [...this.dataFiles, ...this.copiedFiles]
    const manifest: BundleManifest = { format: BUNDLE_FORMAT, version: BUNDLE_VERSION, ...header, files, tensors: this.tensors }
    await this.sink.write(MANIFEST_FILE, new TextEncoder().encode(`${JSON.stringify(manifest, null, 1)}\n`))
    return manifest
  }

  private currentFile(): string {
    return `weights-${String(this.dataFiles.length).padStart(3, '0')}.bin`
  }

  private async flush(): Promise<void> {
    const name = this.currentFile()
    const bytes = this.buffer.subarray(0, this.used)
    await this.sink.write(name, bytes)
    this.dataFiles.push({ name, bytes: this.used, sha256: await sha256Hex(bytes) })
    this.buffer.fill(0, 0, this.used) // padding between parts stays zero
    this.used = 0
  }
}
