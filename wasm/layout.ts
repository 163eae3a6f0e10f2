// Host-side packing of weight matrices into the layouts the kernels read (kernels/matmul_*.ts).
// Owns: the byte sizes of prepared matrices and the packers.
// Must not import: anything but src/backend.ts types.
//
// All three formats group rows in blocks of 4, interleaved so that one 64-byte line holds the same
// columns of four rows (wasm-kernels-notes: each block is one sequential run; the decode matvecs read
// four blocks a quarter of the matrix apart at once, kernels/matmul_q8.ts quad). Padding is zero.
import type { MatrixSource } from '../src/backend.ts'

type Q8Source = Extract<MatrixSource, { format: 'q8' }>
type Q4Source = Extract<MatrixSource, { format: 'q4' }>

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m

/** f32: blocks of 4 rows × (cols padded to 4); chunk c = [row r][cols 4c..4c+3] for r = 0..3. */
export function f32Floats(rows: number, cols: number): number {
  return roundUp(rows, 4) * roundUp(cols, 4)
}

/** dst: zeroed, f32Floats(rows, cols) long. */
export function packF32(src: Float32Array, rows: number, cols: number, dst: Float32Array): void {
  const block = roundUp(cols, 4) * 4
  for (let r = 0; r < rows; r++) {
    const base = (r >> 2) * block + (r & 3) * 4
    const row = r * cols
    for (let c = 0; c < cols; c++) dst[base + (c >> 2) * 16 + (c & 3)] = src[row + c]
  }
}

/** Padded width of one q8 group: a whole number of 32-column activation groups. */
export function q8GroupPadded(group: number): number {
  return roundUp(group, 32)
}

/** Columns per activation scale for a group padded to gp columns (kernels/quantize.ts activationUnit). */
export function activationUnit(gp: number): number {
  return gp % 64 === 0 ? 64 : 32
}

/** q8 weight bytes: blocks of 4 rows × (groups · padded group); chunk = [row r][16 columns]. */
export function q8Bytes(rows: number, cols: number, group: number): number {
  return roundUp(rows, 4) * (cols / group) * q8GroupPadded(group)
}

/** Scale floats for q8 and q4: [rows/4 blocks][groups][4 rows]. */
export function scaleFloats(rows: number, cols: number, group: number): number {
  return roundUp(rows, 4) * (cols / group)
}

function packScales(src: Float32Array, rows: number, groups: number, dst: Float32Array): void {
  for (let r = 0; r < rows; r++) {
    const base = (r >> 2) * groups * 4 + (r & 3)
    for (let g = 0; g < groups; g++) dst[base + g * 4] = src[r * groups + g]
  }
}

/** dst / dstScales: zeroed, q8Bytes / scaleFloats long. */
export function packQ8(src: Q8Source, dst: Int8Array, dstScales: Float32Array): void {
  const { rows, cols, group, data } = src
  const groups = cols / group
  const gp = q8GroupPadded(group)
  const block = groups * gp * 4
  for (let r = 0; r < rows; r++) {
    const base = (r >> 2) * block + (r & 3) * 16
    for (let g = 0; g < groups; g++) {
      for (let j = 0; j < group; j++) {
        const p = g * gp + j
        dst[base + (p >> 4) * 64 + (p & 15)] = data[r * cols + g * group + j]
      }
    }
  }
  packScales(src.scales, rows, groups, dstScales)
}

/** q4 weight bytes: blocks of 4 rows × cols / 2. */
export function q4Bytes(rows: number, cols: number): number {
  return roundUp(rows, 4) * cols / 2
}

/** How a q4 run's 64 bytes are ordered (kernels/matmul_q4.ts): the plain module's or the relaxed module's. */
export type Q4Layout = 'column-halves' | 'row-lanes'

/**
 * dst / dstScales: zeroed. Source nibbles run over the whole matrix (column c of row r is nibble
 * r·cols + c, even nibbles low). A block's 32-column run is 64 bytes: 'column-halves' gives row r
 * bytes 16r..16r+15, byte i holding column i (low nibble) and column 16 + i (high nibble);
 * 'row-lanes' gives chunk k (columns 8k..8k+7) bytes 16k..16k+15, byte 4r + j holding row r's
 * column 8k + j (low) and 8k + 4 + j (high). kernels/matmul_q4.ts explains why.
 */
export function packQ4(src: Q4Source, dst: Uint8Array, dstScales: Float32Array, layout: Q4Layout): void {
  const { rows, cols, data } = src
  const block = cols * 2
  const rowLanes = layout === 'row-lanes'
  for (let r = 0; r < rows; r++) {
    const base = (r >> 2) * block + (r & 3) * (rowLanes ? 4 : 16)
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c
      const nibble = i & 1 ? data[i >> 1] >> 4 : data[i >> 1] & 15
      const k = c & 31
      const at = base + (c >> 5) * 64 + (rowLanes ? (k >> 3) * 16 + (k & 3) : k & 15)
      const high = rowLanes ? (k & 4) !== 0 : k >= 16
      dst[at] |= high ? nibble << 4 : nibble
    }
  }
  packScales(src.scales, rows, cols / src.group, dstScales)
}
