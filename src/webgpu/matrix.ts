// Weight matrices on the GPU: the layout the WGSL weight loaders read (kernels/wgsl/weights_*.wgsl),
// packed once from a MatrixSource at load (f32 ones optionally rounded to f16: the f16 path), and
// the parameter blocks of the matrix kernels.
// Must not import: worker/, Node built-ins, src/model.ts.
import type { Matrix, MatrixSource } from '../backend.ts'
import { storage, type ParamBlock } from './gpu.ts'
import type { WeightFormat } from './kernels.ts'

/** A matrix resident on the GPU; f32 and f16 rows are padded to a multiple of 4 columns. */
export interface GpuMatrix extends Matrix {
  /** The storage the kernels read: `format`, or f16 for an f32 matrix on the f16 path. */
  readonly layout: WeightFormat
  readonly data: GPUBuffer
  readonly scales: GPUBuffer | null // q8 / q4
  readonly quads: number // ⌈cols / 4⌉
  readonly stride: number // elements of `data` per row: vec4 (f32) or u32 words (q8, q4)
  readonly groups: number // scale groups per row
  readonly group: number
}

/** The largest magnitude that rounds to a finite f16 (65504 + half an ulp, exclusive). */
const F16_LIMIT = 65520

/** Pack and upload a matrix (src/backend.ts formats). With `f16`, an f32 matrix whose values all fit f16's range is stored as f16. */
export function uploadMatrix(device: GPUDevice, label: string, source: MatrixSource, options: { f16?: boolean } = {}): GpuMatrix {
  const { rows, cols } = source
  const quads = Math.ceil(cols / 4)
  if (source.format === 'f32') {
    const common = { rows, cols, format: 'f32' as const, scales: null, quads, stride: quads, groups: 1, group: cols }
    if (options.f16 && source.data.every((v) => Math.abs(v) < F16_LIMIT)) {
      const half = toF16(source.data, rows, cols, quads * 4)
      return { ...common, layout: 'f16', bytes: half.byteLength, data: storage(device, label, half.byteLength, half) }
    }
    const data = cols % 4 === 0 ? source.data : padRows(source.data, rows, cols, quads * 4)
    return { ...common, layout: 'f32', bytes: data.byteLength, data: storage(device, label, data.byteLength, data) }
  }
  if (source.group % 4 !== 0) throw new Error(`${label}: the WebGPU backend needs quantisation groups of a multiple of 4 columns, got ${source.group}`)
  const groups = cols / source.group
  const scales = storage(device, `${label}.scales`, source.scales.byteLength, source.scales)
  if (source.format === 'q8') {
    const data = storage(device, label, source.data.byteLength, source.data) // cols % 4 = 0: one u32 per quad
    return { rows, cols, format: 'q8', layout: 'q8', bytes: source.data.byteLength + source.scales.byteLength, data, scales, quads, stride: quads, groups, group: source.group }
  }
  const stride = Math.ceil(cols / 8) // u32 words per row: eight nibbles each
  const bytes = cols % 8 === 0 ? source.data : padRows(source.data, rows, cols / 2, stride * 4)
  const data = storage(device, label, bytes.byteLength, bytes)
  return { rows, cols, format: 'q4', layout: 'q4', bytes: source.data.byteLength + source.scales.byteLength, data, scales, quads, stride, groups, group: source.group }
}

const word = new Float32Array(1)
const wordBits = new Uint32Array(word.buffer)

/** IEEE binary16 bits of `x`, rounded to nearest, ties to even (subnormals kept; overflow → ±inf). */
export function f16Bits(x: number): number {
  word[0] = x
  const bits = wordBits[0]
  const sign = (bits >>> 16) & 0x8000
  const abs = bits & 0x7fffffff
  if (abs > 0x7f800000) return sign | 0x7e00 // NaN
  if (abs >= 0x477ff000) return sign | 0x7c00 // ≥ 65520: ±inf
  if (abs < 0x38800000) {
    // below 2^-14: a subnormal f16, a multiple of 2^-24 (exact in a double)
    const scaled = Math.abs(word[0]) * 2 ** 24
    const floor = Math.floor(scaled)
    const rest = scaled - floor
    return sign | (rest > 0.5 || (rest === 0.5 && floor % 2 === 1) ? floor + 1 : floor)
  }
  let half = (abs - 0x38000000) >>> 13 // exponent rebiased 127 → 15, top 10 mantissa bits
  const rest = abs & 0x1fff
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half++ // a carry into the exponent is correct
  return sign | half
}

/** The value of binary16 `bits`. */
export function f16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1
  const exponent = (bits >>> 10) & 0x1f
  const mantissa = bits & 0x3ff
  if (exponent === 0) return sign * mantissa * 2 ** -24
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15)
}

/** Rows of f16 bits, each padded with zeros to `padded` columns. */
function toF16(data: Float32Array, rows: number, cols: number, padded: number): Uint16Array {
  const out = new Uint16Array(rows * padded)
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * padded + c] = f16Bits(data[r * cols + c])
  return out
}

function padRows<T extends Float32Array | Uint8Array>(data: T, rows: number, width: number, padded: number): T {
  const out = new (data.constructor as new (n: number) => T)(rows * padded)
  for (let r = 0; r < rows; r++) out.set(data.subarray(r * width, (r + 1) * width), r * padded)
  return out
}

/** The weight buffers, in binding order after params, step, input, output. */
export function weightResources(m: GpuMatrix): GPUBuffer[] {
  return m.scales ? [m.data, m.scales] : [m.data]
}

export interface MatmulLayout {
  readonly xStride: number // floats between input rows
  readonly xOffset?: number // first input column
  readonly outStride?: number // default: rows
  readonly outOffset?: number
  readonly accumulate?: boolean // out += x·Wᵀ
}

/** Parameters of matvec_* / matmul_* (kernels/wgsl/matmul_common.wgsl WeightParams). */
export function matmulParams(m: GpuMatrix, layout: MatmulLayout): ParamBlock {
  return {
    u32: [
      m.rows,
      m.cols,
      m.quads,
      m.stride,
      m.groups,
      m.group,
      layout.xStride,
      layout.xOffset ?? 0,
      layout.outStride ?? m.rows,
      layout.outOffset ?? 0,
      layout.accumulate ? 1 : 0,
    ],
  }
}

/** Parameters of gather_* (kernels/wgsl/gather.wgsl). */
export function gatherParams(m: GpuMatrix): ParamBlock {
  return { u32: [m.rows, m.cols, m.quads, m.stride, m.groups, m.group] }
}

/** Workgroups of a matvec (one per output row, wrapped into y past 32768) or a tiled matmul. */
export function matrixGrid(rows: number, T: number): [number, number, number] {
  if (T === 1) return rows > 32768 ? [32768, Math.ceil(rows / 32768), 1] : [rows, 1, 1]
  return [Math.ceil(rows / 64), Math.ceil(T / 64), 1]
}

export function destroyMatrix(m: GpuMatrix): void {
  m.data.destroy()
  m.scales?.destroy()
}
