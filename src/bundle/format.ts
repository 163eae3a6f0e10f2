// The Hymba bundle format (issue 3, deliverable 3): a folder of data files of at most 20 MiB each
// (Workers static assets cap a file at 25 MiB) and `manifest.json`, which describes every tensor
// and every file (size, sha-256). Owns the manifest types, the byte layout of a tensor part, and
// manifest validation. Must not import: Node built-ins, worker/, any backend.
//
// Layout
// - A tensor is stored as one or more parts; a part holds a range of rows (first dimension) and
//   lies in one data file. A tensor that fits in one file has one part and is used in place as a
//   typed-array view; only a tensor larger than a file (the f32 embedding) is split and joined
//   (copied) at load.
// - Every part starts at a multiple of ALIGN bytes; q8 / q4 parts hold the quantised data first
//   and the f32 scales [rows, cols / group] at the next multiple of ALIGN.
// - All numbers are little-endian (typed-array views assume a little-endian host, like wasm).
// - `quant` names the conversion; each tensor has its own `format` (norms and vectors stay f32).
import { BadCheckpoint } from '../errors.ts'

export const BUNDLE_FORMAT = 'hymba-bundle'
export const BUNDLE_VERSION = 1
export const MANIFEST_FILE = 'manifest.json'
/** Default cap on a data file: 20 MiB, under the 25 MiB static-asset limit of Workers. */
export const MAX_FILE_BYTES = 20 * 1024 * 1024
/** Alignment of every part and every scales block: one cache line, enough for any typed view. */
export const ALIGN = 64

export const QUANTS = ['f32', 'f16', 'int8', 'int4'] as const
export type Quant = (typeof QUANTS)[number]
export type TensorFormat = 'f32' | 'f16' | 'q8' | 'q4'

export interface BundleFile {
  readonly name: string
  readonly bytes: number
  readonly sha256: string // lowercase hex
}

export interface TensorPart {
  readonly file: string
  readonly rows: readonly [number, number] // [first, end) along the first dimension
  readonly offset: number // byte offset of the data in `file`
  readonly byteLength: number // data bytes (without the scales)
  readonly scalesOffset?: number // q8 / q4: byte offset of the f32 scales in `file`
}

export interface TensorEntry {
  readonly name: string
  readonly format: TensorFormat
  readonly shape: readonly number[]
  readonly group?: number // q8 / q4: columns per scale
  readonly parts: readonly TensorPart[]
}

export interface BundleManifest {
  readonly format: typeof BUNDLE_FORMAT
  readonly version: typeof BUNDLE_VERSION
  readonly quant: Quant
  readonly group: number | null // the requested group of q8 / q4 tensors (int8 / int4)
  readonly config: Record<string, unknown> // config.json of the source checkpoint, verbatim
  readonly files: readonly BundleFile[] // data files, then the copied HF files (config.json, tokenizer...)
  readonly tensors: readonly TensorEntry[]
}

export const alignUp = (n: number, to = ALIGN) => Math.ceil(n / to) * to

/** Bytes of `rows` rows of a tensor whose rows have `cols` elements: data and (q8 / q4) scales. */
export function partBytes(format: TensorFormat, rows: number, cols: number, group?: number): { data: number; scales: number } {
  switch (format) {
    case 'f32':
      return { data: 4 * rows * cols, scales: 0 }
    case 'f16':
      return { data: 2 * rows * cols, scales: 0 }
    case 'q8':
      return { data: rows * cols, scales: 4 * rows * (cols / group!) }
    case 'q4':
      return { data: (rows * cols) / 2, scales: 4 * rows * (cols / group!) }
  }
}

/** Bytes a part occupies from its (aligned) offset to the end of its scales. */
export function partSpan(format: TensorFormat, rows: number, cols: number, group?: number): number {
  const { data, scales } = partBytes(format, rows, cols, group)
  return scales ? alignUp(data) + scales : data
}

/** Parse and check manifest.json: format, version, and that every part fits its declared file. */
export function parseManifest(bytes: Uint8Array): BundleManifest {
  const bad = (detail: string, tensor?: string) => new BadCheckpoint(MANIFEST_FILE, detail, tensor)
  let m: BundleManifest
  try {
    m = JSON.parse(new TextDecoder().decode(bytes))
  } catch {
    throw bad('not valid JSON')
  }
  if (m?.format !== BUNDLE_FORMAT) throw bad(`not a Hymba bundle (format ${JSON.stringify(m?.format)})`)
  if (m.version !== BUNDLE_VERSION) throw bad(`bundle version ${m.version} is not supported (expected ${BUNDLE_VERSION})`)
  if (!QUANTS.includes(m.quant)) throw bad(`unknown quant ${JSON.stringify(m.quant)}`)
  if (!m.config || typeof m.config !== 'object') throw bad('no config')
  if (!Array.isArray(m.files) || !Array.isArray(m.tensors)) throw bad('no files or tensors list')
  for (const f of m.files) if (!/^[\w.-]+$/.test(f.name) || f.name.startsWith('.')) throw bad(`file name ${JSON.stringify(f.name)} is not a plain name in the bundle folder`)
  const sizes = new Map(m.files.map((f) => [f.name, f.bytes]))
  for (const t of m.tensors) {
    const quantised = t.format === 'q8' || t.format === 'q4'
    if (!['f32', 'f16', 'q8', 'q4'].includes(t.format)) throw bad(`unknown format ${JSON.stringify(t.format)}`, t.name)
    if (!Array.isArray(t.shape) || t.shape.length === 0 || !t.shape.every((d: number) => Number.isInteger(d) && d > 0)) throw bad('bad shape', t.name)
    const cols = t.shape.slice(1).reduce((a: number, b: number) => a * b, 1)
    if (quantised && !(Number.isInteger(t.group) && t.group! > 0 && cols % t.group! === 0 && (t.format === 'q8' || cols % 2 === 0))) throw bad(`group ${t.group} does not divide ${cols} columns`, t.name)
    let next = 0
    for (const p of t.parts ?? []) {
      const [first, end] = p.rows
      if (first !== next || !(end > first)) throw bad(`parts do not cover rows contiguously at row ${next}`, t.name)
      next = end
      const { data, scales } = partBytes(t.format, end - first, cols, t.group)
      const fileBytes = sizes.get(p.file)
      if (fileBytes === undefined) throw bad(`part in unlisted file ${p.file}`, t.name)
      if (p.byteLength !== data || p.offset % ALIGN !== 0 || p.offset + data > fileBytes) throw bad(`part in ${p.file} at ${p.offset} (${p.byteLength} bytes) is misaligned, mis-sized or past the end`, t.name)
      if (quantised && !(p.scalesOffset! % ALIGN === 0 && p.scalesOffset! >= p.offset + data && p.scalesOffset! + scales <= fileBytes)) throw bad(`scales in ${p.file} at ${p.scalesOffset} are misplaced`, t.name)
    }
    if (next !== t.shape[0]) throw bad(`parts cover ${next} of ${t.shape[0]} rows`, t.name)
  }
  return m
}

/** Lowercase hex sha-256 (Web Crypto: Node ≥ 20 and Workers). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>))
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')
}
