// Weight matrices on the GPU: the layout the WGSL weight loaders read (kernels/wgsl/weights_*.wgsl),
// packed once from a MatrixSource at load, and the parameter blocks of the matrix kernels.
// Must not import: worker/, Node built-ins, src/model.ts.
import type { Matrix, MatrixSource } from '../backend.ts'
import { storage, type ParamBlock } from './gpu.ts'

/** A matrix resident on the GPU; f32 rows are padded to a multiple of 4 columns. */
export interface GpuMatrix extends Matrix {
  readonly data: GPUBuffer
  readonly scales: GPUBuffer | null // q8 / q4
  readonly quads: number // ⌈cols / 4⌉
  readonly stride: number // elements of `data` per row: vec4 (f32) or u32 words (q8, q4)
  readonly groups: number // scale groups per row
  readonly group: number
}

/** Pack and upload a matrix (src/backend.ts formats). */
export function uploadMatrix(device: GPUDevice, label: string, source: MatrixSource): GpuMatrix {
  const { rows, cols } = source
  const quads = Math.ceil(cols / 4)
  if (source.format === 'f32') {
    const data = cols % 4 === 0 ? source.data : padRows(source.data, rows, cols, quads * 4)
    return { rows, cols, format: 'f32', bytes: data.byteLength, data: storage(device, label, data.byteLength, data), scales: null, quads, stride: quads, groups: 1, group: cols }
  }
  if (source.group % 4 !== 0) throw new Error(`${label}: the WebGPU backend needs quantisation groups of a multiple of 4 columns, got ${source.group}`)
  const groups = cols / source.group
  const scales = storage(device, `${label}.scales`, source.scales.byteLength, source.scales)
  if (source.format === 'q8') {
    const data = storage(device, label, source.data.byteLength, source.data) // cols % 4 = 0: one u32 per quad
    return { rows, cols, format: 'q8', bytes: source.data.byteLength + source.scales.byteLength, data, scales, quads, stride: quads, groups, group: source.group }
  }
  const stride = Math.ceil(cols / 8) // u32 words per row: eight nibbles each
  const bytes = cols % 8 === 0 ? source.data : padRows(source.data, rows, cols / 2, stride * 4)
  const data = storage(device, label, bytes.byteLength, bytes)
  return { rows, cols, format: 'q4', bytes: source.data.byteLength + source.scales.byteLength, data, scales, quads, stride, groups, group: source.group }
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
