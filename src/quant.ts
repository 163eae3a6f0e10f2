// Symmetric weight quantisation into the MatrixSource formats of backend.ts, and back (for tests
// and quality checks).
// Owns: quantizeQ8, quantizeQ4, dequantize.
// Must not import: any backend, worker/, Node built-ins.
import type { MatrixSource } from './backend.ts'

export type F32Source = Extract<MatrixSource, { format: 'f32' }>
export type Q8Source = Extract<MatrixSource, { format: 'q8' }>
export type Q4Source = Extract<MatrixSource, { format: 'q4' }>

function checkGroup(cols: number, group: number): number {
  if (!(Number.isInteger(group) && group > 0 && cols % group === 0)) {
    throw new RangeError(`group ${group} must be a positive divisor of cols ${cols}`)
  }
  return cols / group
}

/** Largest |w| of each group of each row: [rows, cols / group]. */
function groupMaxAbs(source: F32Source, group: number): Float32Array {
  const { rows, cols, data } = source
  const groups = checkGroup(cols, group)
  const maxAbs = new Float32Array(rows * groups)
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      let m = 0
      const base = r * cols + g * group
      for (let j = 0; j < group; j++) m = Math.max(m, Math.abs(data[base + j]))
      maxAbs[r * groups + g] = m
    }
  }
  return maxAbs
}

/** int8: scale = max|w| / 127 per group, q = round(w / scale) ∈ [−127, 127]. */
export function quantizeQ8(source: F32Source, group = 32): Q8Source {
  const { rows, cols, data } = source
  const scales = groupMaxAbs(source, group).map((m) => m / 127)
  const q = new Int8Array(rows * cols)
  const groups = cols / group
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const scale = scales[r * groups + Math.floor(c / group)]
      q[r * cols + c] = scale === 0 ? 0 : Math.max(-127, Math.min(127, Math.round(data[r * cols + c] / scale)))
    }
  }
  return { format: 'q8', rows, cols, group, data: q, scales }
}

/**
 * int4: scale = max|w| / 7 per group, nibble = round(w / scale) + 8 ∈ [1, 15] (symmetric, so the
 * error is at most scale / 2 everywhere; nibble 0 is never produced). Column c of row r is nibble
 * r·cols + c of the data, even nibbles in the low half of their byte (backend.ts).
 */
export function quantizeQ4(source: F32Source, group: 32 | 64 = 32): Q4Source {
  const { rows, cols, data } = source
  const scales = groupMaxAbs(source, group).map((m) => m / 7)
  const packed = new Uint8Array(Math.ceil((rows * cols) / 2))
  const groups = cols / group
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const scale = scales[r * groups + Math.floor(c / group)]
      const q = scale === 0 ? 0 : Math.max(-7, Math.min(7, Math.round(data[r * cols + c] / scale)))
      const i = r * cols + c
      packed[i >> 1] |= (q + 8) << ((i & 1) * 4)
    }
  }
  return { format: 'q4', rows, cols, group, data: packed, scales }
}

/** The f32 matrix a quantised source stands for: w = scale · q (q8) or scale · (nibble − 8) (q4). */
export function dequantize(source: MatrixSource): F32Source {
  if (source.format === 'f32') return source
  const { rows, cols, group, scales } = source
  const groups = checkGroup(cols, group)
  const data = new Float32Array(rows * cols)
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c
      const q = source.format === 'q8' ? source.data[i] : ((source.data[i >> 1] >> ((i & 1) * 4)) & 15) - 8
      data[i] = scales[r * groups + Math.floor(c / group)] * q
    }
  }
  return { format: 'f32', rows, cols, data }
}
