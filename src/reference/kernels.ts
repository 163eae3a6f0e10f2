// The reference backend: every Kernels operation as plain TypeScript loops on Float32Array,
// written for clarity. It defines the numerics the faster backends are tested against.
// Must not import: worker/, wasm/, Node built-ins.
import type { AttentionShape, Kernels, Matrix, MatrixSource } from '../backend.ts'
import { argmax } from '../sampling.ts'

/** A reference matrix keeps its source; quantised formats are dequantised on the fly. */
interface ReferenceMatrix extends Matrix {
  readonly source: MatrixSource
}

const silu = (x: number) => x / (1 + Math.exp(-x))
const softplus20 = (x: number) => (x > 20 ? x : Math.log1p(Math.exp(x))) // spec §2.5: threshold 20

/** Row r of a matrix as float32 (dequantised for q8 / q4). */
function readRow(source: MatrixSource, r: number, row: Float32Array): void {
  const cols = source.cols
  if (source.format === 'f32') {
    row.set(source.data.subarray(r * cols, (r + 1) * cols))
    return
  }
  const groups = cols / source.group
  for (let c = 0; c < cols; c++) {
    const scale = source.scales[r * groups + Math.floor(c / source.group)]
    let q: number
    if (source.format === 'q8') q = source.data[r * cols + c]
    else {
      const byte = source.data[(r * cols + c) >> 1]
      q = (c & 1 ? byte >> 4 : byte & 15) - 8
    }
    row[c] = scale * q
  }
}

export function createReferenceKernels(): Kernels {
  return {
    name: 'reference-ts',

    alloc: (length) => new Float32Array(length),
    free: () => {},

    prepareMatrix(source): ReferenceMatrix {
      const bytes =
        source.format === 'f32' ? source.data.byteLength : source.data.byteLength + source.scales.byteLength
      return { rows: source.rows, cols: source.cols, format: source.format, bytes, source }
    },

    matmul(out, x, w, T) {
      const { source } = w as ReferenceMatrix
      const { rows, cols } = source
      const row = new Float32Array(cols)
      const f32 = source.format === 'f32'
      for (let r = 0; r < rows; r++) {
        if (!f32) readRow(source, r, row)
        const weights = f32 ? source.data : row
        const wBase = f32 ? r * cols : 0
        for (let t = 0; t < T; t++) {
          // four partial sums: the same arithmetic, fewer loop-carried dependencies
          let s0 = 0
          let s1 = 0
          let s2 = 0
          let s3 = 0
          const xBase = t * cols
          let c = 0
          for (; c + 4 <= cols; c += 4) {
            s0 += x[xBase + c] * weights[wBase + c]
            s1 += x[xBase + c + 1] * weights[wBase + c + 1]
            s2 += x[xBase + c + 2] * weights[wBase + c + 2]
            s3 += x[xBase + c + 3] * weights[wBase + c + 3]
          }
          for (; c < cols; c++) s0 += x[xBase + c] * weights[wBase + c]
          out[t * rows + r] = s0 + s1 + s2 + s3
        }
      }
    },

    gatherRows(out, w, ids) {
      const { source } = w as ReferenceMatrix
      const row = new Float32Array(source.cols)
      for (let i = 0; i < ids.length; i++) {
        readRow(source, ids[i], row)
        out.set(row, i * source.cols)
      }
    },

    rmsNorm(out, x, weight, T, dim, eps) {
      for (let t = 0; t < T; t++) {
        const base = t * dim
        let sumSq = 0
        for (let i = 0; i < dim; i++) sumSq += x[base + i] * x[base + i]
        const inv = 1 / Math.sqrt(Math.fround(sumSq / dim) + eps)
        for (let i = 0; i < dim; i++) out[base + i] = weight[i] * Math.fround(x[base + i] * inv)
      }
    },

    rope(x, T, heads, headDim, pos0, invFreq) {
      const half = headDim / 2
      for (let t = 0; t < T; t++) {
        const pos = pos0 + t
        for (let j = 0; j < half; j++) {
          const angle = Math.fround(pos * invFreq[j]) // spec §2.4: float32(pos) · inv_freq in fp32
          const cos = Math.fround(Math.cos(angle))
          const sin = Math.fround(Math.sin(angle))
          for (let h = 0; h < heads; h++) {
            const base = (t * heads + h) * headDim
            const a = x[base + j]
            const b = x[base + j + half]
            x[base + j] = a * cos - b * sin
            x[base + j + half] = b * cos + a * sin
          }
        }
      }
    },

    attention(out, q, keys, values, keyPos, shape: AttentionShape) {
      const { queries, keys: S, heads, kvHeads, headDim, valueDim, queryPos0, metaTokens, span } = shape
      const group = heads / kvHeads
      const scale = 1 / Math.sqrt(headDim)
      const scores = new Float64Array(S)
      for (let t = 0; t < queries; t++) {
        const qpos = queryPos0 + t
        for (let h = 0; h < heads; h++) {
          const kvh = Math.floor(h / group)
          const qBase = (t * heads + h) * headDim
          let max = -Infinity
          for (let s = 0; s < S; s++) {
            const kpos = keyPos[s]
            if (kpos > qpos || (kpos >= metaTokens && qpos - kpos > span)) {
              scores[s] = -Infinity
              continue
            }
            const kBase = (s * kvHeads + kvh) * headDim
            let dot = 0
            for (let d = 0; d < headDim; d++) dot += q[qBase + d] * keys[kBase + d]
            scores[s] = dot * scale
            if (scores[s] > max) max = scores[s]
          }
          let total = 0
          for (let s = 0; s < S; s++) {
            scores[s] = scores[s] === -Infinity ? 0 : Math.exp(scores[s] - max)
            total += scores[s]
          }
          const oBase = (t * heads + h) * valueDim
          for (let d = 0; d < valueDim; d++) {
            let acc = 0
            for (let s = 0; s < S; s++) if (scores[s] !== 0) acc += scores[s] * values[(s * kvHeads + kvh) * valueDim + d]
            out[oBase + d] = acc / total
          }
        }
      }
    },

    causalConv(out, x, state, weight, bias, T, channels, kernel) {
      for (let t = 0; t < T; t++) {
        // shift the window: state[k] ← state[k + 1], state[K − 1] ← x[t]
        state.copyWithin(0, channels, kernel * channels)
        state.set(x.subarray(t * channels, (t + 1) * channels), (kernel - 1) * channels)
        for (let e = 0; e < channels; e++) {
          let acc = bias ? bias[e] : 0
          for (let k = 0; k < kernel; k++) acc += weight[e * kernel + k] * state[k * channels + e]
          out[t * channels + e] = silu(acc)
        }
      }
    },

    selectiveScan(out, state, u, dt, dtBias, A, B, C, D, z, T, channels, stateDim) {
      for (let t = 0; t < T; t++) {
        for (let e = 0; e < channels; e++) {
          const i = t * channels + e
          const delta = softplus20(dt[i] + dtBias[e])
          const du = delta * u[i]
          let y = 0
          for (let n = 0; n < stateDim; n++) {
            const s = Math.exp(delta * A[e * stateDim + n]) * state[e * stateDim + n] + du * B[t * stateDim + n]
            state[e * stateDim + n] = s
            y += s * C[t * stateDim + n]
          }
          out[i] = (y + D[e] * u[i]) * silu(z[i])
        }
      }
    },

    siluMul(out, gate, up, n) {
      for (let i = 0; i < n; i++) out[i] = silu(gate[i]) * up[i]
    },
    relu2(out, x, n) {
      for (let i = 0; i < n; i++) out[i] = x[i] > 0 ? x[i] * x[i] : 0
    },
    addInto(x, y, n) {
      for (let i = 0; i < n; i++) x[i] += y[i]
    },
    addBias(x, bias, T, n) {
      for (let t = 0; t < T; t++) for (let j = 0; j < n; j++) x[t * n + j] += bias[j]
    },
    mean2(out, a, b, n) {
      for (let i = 0; i < n; i++) out[i] = (a[i] + b[i]) / 2
    },
    argmax(x, n) {
      if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`argmax: needs n ≥ 1, got ${n}`)
      return argmax(x.subarray(0, n))
    },
  }
}
