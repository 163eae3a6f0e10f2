// Every WASM kernel against the reference backend on odd sizes (issue 3), plus the WASM backend's
// own contracts: staging of foreign buffers, aliasing, the allocator, relaxed-SIMD selection.
// Tolerances are derived from sizes and f32 ε (style.md), never tuned to pass.
// Must not import: worker/.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { AttentionShape, Kernels, Matrix, MatrixSource } from '../src/backend.ts'
import { dequantize, quantizeQ4, quantizeQ8, type F32Source } from '../src/quant.ts'
import { createReferenceKernels } from '../src/reference/kernels.ts'
import { argmax, seededRandom } from '../src/sampling.ts'
import { expectClose } from './support/fixture-format.ts'
import { createWasmKernels, KernelOutOfMemory, relaxedSimdSupported } from '../wasm/loader.ts'
import { activationUnit, q8GroupPadded } from '../wasm/layout.ts'

const EPS = 2 ** -23 // f32 machine epsilon
const ref = createReferenceKernels()

/** Deterministic uniform numbers in [−1, 1) (the sampler's seeded PRNG, rescaled). */
function seeded(seed: number): () => number {
  const uniform = seededRandom(seed)
  return () => 2 * uniform() - 1
}
function randomArray(rand: () => number, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n)
  for (let i = 0; i < n; i++) a[i] = rand() * scale
  return a
}
const maxAbs = (a: ArrayLike<number>) => {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]))
  return m
}

/**
 * x̂: the activations as the int8 kernels see them (mirror of kernels/quantize.ts, in TS): one scale
 * per unit of 64 columns of a group padded to a multiple of 64 columns, else of 32.
 */
function quantizedActivations(x: Float32Array, T: number, cols: number, group: number): { xhat: Float32Array; runScale: number[] } {
  const xhat = new Float32Array(T * cols)
  const runScale: number[] = [] // scale of the unit holding each element (for the quantisation bound)
  const unit = activationUnit(q8GroupPadded(group))
  for (let t = 0; t < T; t++) {
    for (let g = 0; g < cols / group; g++) {
      for (let within = 0; within < group; within += unit) {
        const start = t * cols + g * group + within
        const n = Math.min(unit, group - within)
        let m = 0
        for (let j = 0; j < n; j++) m = Math.max(m, Math.abs(x[start + j]))
        const inv = m > 0 ? Math.fround(127 / m) : 0
        const scale = Math.fround(m / 127)
        for (let j = 0; j < n; j++) {
          const v = Math.fround(x[start + j] * inv)
          let q = Math.round(v)
          if (q - v === 0.5 && q % 2 !== 0) q -= 1 // ties to even, as f32x nearest
          xhat[start + j] = q * scale
          runScale[start + j] = scale
        }
      }
    }
  }
  return { xhat, runScale }
}

const backends: Array<[string, () => Promise<Kernels>]> = [['wasm-simd', () => createWasmKernels({ relaxed: false, memoryBytes: 160 << 20 })]]
if (relaxedSimdSupported()) backends.push(['wasm-relaxed-simd', () => createWasmKernels({ relaxed: 'auto', memoryBytes: 160 << 20 })])

for (const [label, create] of backends) {
  describe(`${label} kernels`, async () => {
    const k = await create()

    describe('matmul', () => {
      // 15 and 31 rows: a partial last 4-row block inside the decode kernels' four-stream paths
      // (blocks b + k·⌊blocks/4⌋); 19×37 and 33×71: f32 four-stream blocks with a last chunk of 1
      // and 3 columns, 33 rows one block left over after them
      const shapes: Array<[number, number]> = [[1, 7], [3, 33], [5, 65], [17, 160], [4, 32], [6, 192], [15, 128], [15, 84], [31, 96], [19, 37], [33, 71], [8960, 1600]]
      const sources = (rows: number, cols: number, rand: () => number): MatrixSource[] => {
        const f32: F32Source = { format: 'f32', rows, cols, data: randomArray(rand, rows * cols, 0.5) }
        const out: MatrixSource[] = [f32, quantizeQ8(f32, cols % 32 === 0 ? 32 : cols)] // odd cols: one group per row
        if (cols % 32 === 0) out.push(quantizeQ4(f32, 32))
        if (cols % 32 === 0 && cols !== 32) out.push(quantizeQ8(f32, cols)) // per-row scales
        if (cols % 64 === 0) out.push(quantizeQ8(f32, 64), quantizeQ4(f32, 64)) // groups of two runs (int8 bundles use 64)
        return out
      }
      for (const [rows, cols] of shapes) {
        const rand = seeded(rows * 7919 + cols)
        for (const source of sources(rows, cols, rand)) {
          const group = source.format === 'f32' ? cols : source.group
          const Ts = rows > 1000 ? [1] : [1, 2, 3, 5]
          let prepared: [Matrix, Matrix] | undefined // the backend cannot free matrices: prepare once
          for (const T of Ts) {
            it(`${source.format}${source.format === 'f32' ? '' : `/g${group}`} ${rows}×${cols}, T=${T}`, () => {
              const x = randomArray(rand, T * cols, 2)
              prepared ??= [ref.prepareMatrix(source), k.prepareMatrix(source)]
              const [wRef, w] = prepared
              assert.equal(w.rows, rows)
              const out = new Float32Array(T * rows)
              k.matmul(out, x, w, T)
              const maxW = maxAbs(dequantize(source).data)
              if (source.format === 'f32') {
                const expected = new Float32Array(T * rows)
                ref.matmul(expected, x, wRef, T)
                expectClose(out, expected, cols * EPS * maxW * maxAbs(x), 'f32 matmul')
                return
              }
              // exact integer path: compare with the reference on the activations the kernel sees
              const { xhat, runScale } = quantizedActivations(x, T, cols, source.group)
              const expectedHat = new Float32Array(T * rows)
              ref.matmul(expectedHat, xhat, wRef, T)
              expectClose(out, expectedHat, cols * EPS * maxW * maxAbs(xhat), `${source.format} matmul vs x̂`)
              // and with the true x: activation rounding moves each product by ≤ |w|·(scale/2 + 128ε·scale)
              const wd = dequantize(source).data
              const expected = new Float32Array(T * rows)
              ref.matmul(expected, x, wRef, T)
              let bound = 0
              for (let t = 0; t < T; t++) {
                for (let r = 0; r < rows; r++) {
                  let b = 0
                  for (let c = 0; c < cols; c++) b += Math.abs(wd[r * cols + c]) * runScale[t * cols + c] * (0.5 + 128 * EPS)
                  bound = Math.max(bound, b)
                }
              }
              expectClose(out, expected, bound + cols * EPS * maxW * maxAbs(x), `${source.format} matmul vs x`)
            })
          }
        }
      }

      it('blocked f32 matmul across token tiles (T = 33, cols 1600)', () => {
        const rand = seeded(33)
        const source: F32Source = { format: 'f32', rows: 9, cols: 1600, data: randomArray(rand, 9 * 1600) }
        const x = k.alloc(33 * 1600)
        x.set(randomArray(rand, 33 * 1600))
        const out = k.alloc(33 * 9)
        k.matmul(out, x, k.prepareMatrix(source), 33)
        const expected = new Float32Array(33 * 9)
        ref.matmul(expected, x, ref.prepareMatrix(source), 33)
        expectClose(out, expected, 1600 * EPS * maxAbs(source.data) * maxAbs(x), 'f32 matmul T=33')
        k.free(x)
        k.free(out)
      })
    })

    it('q4 at the extremes: nibbles 0 and 15, activations ±127 (the plain kernel scales activations by 256 in i16)', () => {
      const rand = seeded(256)
      for (const [rows, cols, group] of [[5, 96, 32], [7, 128, 64]] as const) {
        const data = Uint8Array.from({ length: (rows * cols) / 2 }, () => [0x00, 0xff, 0x0f, 0xf0][Math.floor(rand() * 4)])
        const source: MatrixSource = { format: 'q4', rows, cols, group, data, scales: new Float32Array((rows * cols) / group).fill(1) }
        for (const T of [1, 3]) {
          const x = Float32Array.from({ length: T * cols }, () => (rand() < 0.5 ? -1 : 1)) // every activation quantises to ±127
          const out = new Float32Array(T * rows)
          k.matmul(out, x, k.prepareMatrix(source), T)
          const { xhat } = quantizedActivations(x, T, cols, group)
          const expected = new Float32Array(T * rows)
          ref.matmul(expected, xhat, ref.prepareMatrix(source), T)
          expectClose(out, expected, cols * EPS * 8 * maxAbs(xhat), `q4 extremes ${rows}×${cols}/g${group} T=${T}`)
        }
      }
    })

    it('gatherRows dequantises exactly', () => {
      const rand = seeded(5)
      const f32: F32Source = { format: 'f32', rows: 17, cols: 64, data: randomArray(rand, 17 * 64) }
      const odd: F32Source = { format: 'f32', rows: 5, cols: 7, data: randomArray(rand, 35) }
      for (const source of [f32, odd, quantizeQ8(f32), quantizeQ8(odd, 7), quantizeQ4(f32), quantizeQ4(f32, 64)]) {
        const ids = source.rows === 17 ? [16, 0, 3, 3, 13] : [4, 0, 2]
        const out = new Float32Array(ids.length * source.cols)
        const expected = new Float32Array(ids.length * source.cols)
        k.gatherRows(out, k.prepareMatrix(source), ids)
        ref.gatherRows(expected, ref.prepareMatrix(source), ids)
        expectClose(out, expected, 0, `gatherRows ${source.format} ${source.rows}×${source.cols}`)
      }
      assert.throws(() => k.gatherRows(new Float32Array(64), k.prepareMatrix(f32), [17]), RangeError)
    })

    it('rmsNorm, in place and not (dims 1, 7, 33, 1600)', () => {
      const rand = seeded(11)
      for (const [T, dim] of [[1, 1], [3, 7], [5, 33], [2, 1600]]) {
        const x = randomArray(rand, T * dim, 3)
        const weight = randomArray(rand, dim)
        const expected = new Float32Array(T * dim)
        ref.rmsNorm(expected, x, weight, T, dim, 1e-6)
        const tol = (dim + 4) * EPS * maxAbs(expected) * 2
        const out = new Float32Array(T * dim)
        k.rmsNorm(out, x, weight, T, dim, 1e-6)
        expectClose(out, expected, tol, `rmsNorm ${T}×${dim}`)
        const inPlace = k.alloc(T * dim)
        inPlace.set(x)
        k.rmsNorm(inPlace, inPlace, weight, T, dim, 1e-6)
        expectClose(inPlace, expected, tol, `rmsNorm in place ${T}×${dim}`)
        const foreignInPlace = x.slice()
        k.rmsNorm(foreignInPlace, foreignInPlace, weight, T, dim, 1e-6)
        expectClose(foreignInPlace, expected, tol, `rmsNorm foreign in place ${T}×${dim}`)
        k.free(inPlace)
      }
    })

    it('rope (head dims 2, 6, 64; positions up to 8190)', () => {
      const rand = seeded(13)
      for (const [T, heads, hd, pos0] of [[1, 1, 2, 0], [3, 5, 6, 7], [5, 3, 64, 8186]]) {
        const invFreq = new Float32Array(hd / 2).map((_, j) => 1 / 74534.83031811893 ** ((2 * j) / hd))
        const x = randomArray(rand, T * heads * hd)
        const expected = x.slice()
        ref.rope(expected, T, heads, hd, pos0, invFreq)
        k.rope(x, T, heads, hd, pos0, invFreq)
        expectClose(x, expected, 4 * EPS * maxAbs(expected), `rope T=${T} hd=${hd}`)
      }
    })

    describe('attention', () => {
      /** Keys in a scrambled order: positions are per key, not implied by the index. */
      const scrambled = ({ keys: S, queries: T, queryPos0 }: AttentionShape) =>
        new Int32Array(S).map((_, s) => (s * 5) % S + Math.max(0, queryPos0 + T - S))
      /** A sliding cache (M meta rows, then a ring of W) after writing position `last`: the ring is rotated. */
      const ring = (M: number, W: number, last: number) => {
        const pos = new Int32Array(M + W).map((_, i) => i)
        for (let p = M; p <= last; p++) pos[M + ((p - M) % W)] = p
        return pos
      }
      const cases: Array<[string, AttentionShape, Int32Array?]> = [
        ['decode, global', { queries: 1, keys: 7, heads: 3, kvHeads: 1, headDim: 5, valueDim: 9, queryPos0: 6, metaTokens: 2, span: Infinity }],
        ['prefill, sliding', { queries: 5, keys: 17, heads: 4, kvHeads: 2, headDim: 6, valueDim: 7, queryPos0: 12, metaTokens: 3, span: 4 }],
        ['Hymba-ish decode', { queries: 1, keys: 161, heads: 25, kvHeads: 5, headDim: 64, valueDim: 128, queryPos0: 160, metaTokens: 128, span: 15 }],
        ['Hymba-ish prefill', { queries: 9, keys: 9, heads: 5, kvHeads: 5, headDim: 64, valueDim: 128, queryPos0: 0, metaTokens: 4, span: 2 }],
        // S = 270 (not a multiple of 4), GQA groups of 3 as in the 140M model
        ['140M decode, global', { queries: 1, keys: 270, heads: 12, kvHeads: 4, headDim: 64, valueDim: 64, queryPos0: 269, metaTokens: 128, span: Infinity }],
        // decode on a rotated ring, a span shorter than the ring (its oldest keys masked, in a block
        // and in the tail); hd 33 and vd 41 exercise the head-dim tails (4, 1) and every value tile (8, 4, 1)
        ['decode, rotated ring', { queries: 1, keys: 11, heads: 6, kvHeads: 2, headDim: 33, valueDim: 41, queryPos0: 27, metaTokens: 3, span: 5 }, ring(3, 8, 27)],
        // keys in position order: the causal and window masks cover whole blocks of 4 keys (skipped in
        // the scores)
        ['prefill, blocks fully masked', { queries: 6, keys: 23, heads: 4, kvHeads: 1, headDim: 8, valueDim: 19, queryPos0: 17, metaTokens: 2, span: 5 }, new Int32Array(23).map((_, s) => s)],
        ['prefill on a rotated ring, group 2', { queries: 3, keys: 14, heads: 6, kvHeads: 3, headDim: 12, valueDim: 36, queryPos0: 30, metaTokens: 2, span: 12 }, ring(2, 12, 32)],
      ]
      const run = (shape: AttentionShape, keyPos: Int32Array) => {
        const rand = seeded(shape.keys * 31 + shape.queries)
        const { queries: T, keys: S, heads, kvHeads, headDim, valueDim } = shape
        const q = randomArray(rand, T * heads * headDim, 2)
        const keys = randomArray(rand, S * kvHeads * headDim, 2)
        const values = randomArray(rand, S * kvHeads * valueDim)
        const expected = new Float32Array(T * heads * valueDim)
        ref.attention(expected, q, keys, values, keyPos, shape)
        const out = new Float32Array(T * heads * valueDim)
        k.attention(out, q, keys, values, keyPos, shape)
        const scoreErr = 2 * headDim * EPS * maxAbs(q) * maxAbs(keys) / Math.sqrt(headDim)
        return { out, expected, tol: maxAbs(values) * (2 * scoreErr + (S + 8) * EPS) }
      }
      for (const [name, shape, keyPos] of cases) {
        it(`${name}: T=${shape.queries} S=${shape.keys} heads ${shape.heads}/${shape.kvHeads} hd=${shape.headDim} vd=${shape.valueDim}`, () => {
          const { out, expected, tol } = run(shape, keyPos ?? scrambled(shape))
          expectClose(out, expected, tol, `attention ${name}`)
        })
      }
      it('a query that sees no key gets zeros (the reference divides 0 by 0)', () => {
        // keys at positions 2…9: the queries at 0 and 1 see none, the one at 2 sees one
        const shape: AttentionShape = { queries: 3, keys: 8, heads: 6, kvHeads: 2, headDim: 7, valueDim: 37, queryPos0: 0, metaTokens: 0, span: Infinity }
        const { out, expected, tol } = run(shape, new Int32Array([9, 4, 2, 7, 3, 8, 5, 6]))
        const row = 6 * 37
        expectClose(out.subarray(0, 2 * row), new Float32Array(2 * row), 0, 'attention blind queries')
        expectClose(out.subarray(2 * row), expected.subarray(2 * row), tol, 'attention last query')
      })
    })

    it('causalConv + SiLU continues from its state (K = 4 and 3; E = 3, 7, 33, 3200)', () => {
      const rand = seeded(17)
      for (const [T, E, K, withBias] of [[1, 7, 4, true], [2, 33, 4, false], [6, 33, 3, true], [5, 3200, 4, true], [2, 3, 4, true]] as const) {
        const x = randomArray(rand, T * E, 2)
        const weight = randomArray(rand, E * K)
        const bias = withBias ? randomArray(rand, E) : null
        const state = randomArray(rand, K * E, 2)
        const expectedState = state.slice()
        const expected = new Float32Array(T * E)
        ref.causalConv(expected, x, expectedState, weight, bias, T, E, K)
        const out = new Float32Array(T * E)
        k.causalConv(out, x, state, weight, bias, T, E, K)
        const pre = (K + 2) * EPS * ((bias ? maxAbs(bias) : 0) + K * maxAbs(weight) * Math.max(maxAbs(x), maxAbs(expectedState)))
        expectClose(out, expected, 1.1 * pre + 4 * EPS * maxAbs(expected), `causalConv out T=${T} E=${E} K=${K}`)
        expectClose(state, expectedState, 0, `causalConv state T=${T} E=${E} K=${K}`)
      }
    })

    it('selectiveScan with z gating (N = 16, 20, 5, 3; E = 4, 5, 6, 7, 33, 3200)', () => {
      const rand = seeded(19)
      for (const [T, E, N] of [[1, 7, 16], [4, 33, 5], [3, 3200, 16], [9, 5, 16], [2, 6, 20], [1, 4, 3]]) {
        const u = randomArray(rand, T * E, 2)
        // some above the softplus threshold, some far below it (Δ ≈ e^−25: softplus4's exact log1p branch)
        const dt = randomArray(rand, T * E, 3).map((v, i) => (i % 11 === 0 ? v + 21 : i % 7 === 3 ? v - 25 : v))
        const dtBias = randomArray(rand, E)
        const A = randomArray(rand, E * N).map((v) => -Math.exp(v))
        const B = randomArray(rand, T * N)
        const C = randomArray(rand, T * N)
        const D = randomArray(rand, E)
        const z = randomArray(rand, T * E, 3)
        const state = randomArray(rand, E * N)
        // reference step by step, to know the largest state and Δ·A on the way
        const expectedState = state.slice()
        const expected = new Float32Array(T * E)
        let maxState = maxAbs(state)
        for (let t = 0; t < T; t++) {
          const sl = (a: Float32Array, w: number) => a.subarray(t * w, (t + 1) * w)
          ref.selectiveScan(sl(expected, E), expectedState, sl(u, E), sl(dt, E), dtBias, A, sl(B, N), sl(C, N), D, sl(z, E), 1, E, N)
          maxState = Math.max(maxState, maxAbs(expectedState))
        }
        const maxDelta = maxAbs(dt) + maxAbs(dtBias) + 1 // softplus(v) ≤ |v| + ln 2
        const growth = (T + N + 8) * EPS * (1 + maxDelta * maxAbs(A))
        const out = new Float32Array(T * E)
        k.selectiveScan(out, state, u, dt, dtBias, A, B, C, D, z, T, E, N)
        const yMax = N * maxState * maxAbs(C) + maxAbs(D) * maxAbs(u)
        expectClose(out, expected, growth * yMax * maxAbs(z), `selectiveScan out T=${T} E=${E} N=${N}`)
        expectClose(state, expectedState, growth * maxState, `selectiveScan state T=${T} E=${E} N=${N}`)
      }
    })

    it('element-wise ops (n = 1, 7, 33, 5504), aliasing allowed by backend.ts', () => {
      const rand = seeded(23)
      for (const n of [1, 7, 33, 5504]) {
        const a = randomArray(rand, n, 10)
        const b = randomArray(rand, n, 10)
        const check = (what: string, tol: number, run: (k: Kernels, out: Float32Array, a: Float32Array, b: Float32Array) => void) => {
          const expected = new Float32Array(n)
          run(ref, expected, a.slice(), b.slice())
          const out = new Float32Array(n)
          run(k, out, a.slice(), b.slice())
          expectClose(out, expected, tol, `${what} n=${n}`)
          const inWasm = k.alloc(n)
          inWasm.set(a)
          run(k, inWasm, inWasm, b.slice()) // out aliases the first input
          expectClose(inWasm, expected, tol, `${what} aliased n=${n}`)
          k.free(inWasm)
        }
        check('siluMul', 6 * EPS * maxAbs(a) * maxAbs(b), (kk, out, g, u) => kk.siluMul(out, g, u, n))
        check('relu2', 0, (kk, out, x) => kk.relu2(out, x, n))
        check('mean2', 0, (kk, out, x, y) => kk.mean2(out, x, y, n))
        check('addInto', 0, (kk, out, x, y) => {
          out.set(x)
          kk.addInto(out, y, n)
        })
      }
      const T = 3
      const n = 7
      const x = randomArray(rand, T * n)
      const bias = randomArray(rand, n)
      const expected = x.slice()
      ref.addBias(expected, bias, T, n)
      k.addBias(x, bias, T, n)
      expectClose(x, expected, 0, 'addBias')
    })

    it('argmax equals src/sampling.ts argmax (n = 1, 3, 17, 63, 32001): ties, ±0, ±∞, NaN', () => {
      const rand = seeded(29)
      for (const n of [1, 3, 17, 63, 32001]) {
        const cases: Array<[string, Float32Array]> = [['random', randomArray(rand, n, 10)]]
        const tie = randomArray(rand, n)
        tie.fill(2, n >> 1) // the maximum from the middle on: the first of equal maxima wins
        cases.push(['ties', tie])
        const last = randomArray(rand, n)
        last[n - 1] = 5 // the maximum in the scalar tail
        cases.push(['last', last])
        const zeros = new Float32Array(n).fill(-1)
        for (let i = n >> 1; i < n; i++) zeros[i] = i % 2 ? 0 : -0 // a maximum of 0 in both signs
        cases.push(['±0', zeros])
        const nan = randomArray(rand, n)
        for (let i = 0; i < n; i += 5) nan[i] = NaN // NaN at 0 keeps 0; elsewhere NaN never wins
        cases.push(['NaN', nan])
        const nanLater = randomArray(rand, n)
        for (let i = 1; i < n; i += 2) nanLater[i] = NaN
        cases.push(['NaN after 0', nanLater])
        const inf = randomArray(rand, n).fill(-Infinity)
        if (n > 2) inf[n - 2] = Infinity
        cases.push(['±∞', inf])
        for (const [what, x] of cases) {
          const expected = argmax(x)
          assert.equal(k.argmax(x, n), expected, `${what} n=${n}`)
          const inWasm = k.alloc(n + 5)
          inWasm.set(x)
          inWasm.fill(1e30, n) // past n: never read
          assert.equal(k.argmax(inWasm, n), expected, `${what} n=${n} in wasm memory`)
          k.free(inWasm)
        }
      }
      assert.throws(() => k.argmax(new Float32Array(4), 0), RangeError)
    })
  })
}

describe('wasm backend contracts', () => {
  it('Node without flags: auto picks plain SIMD; relaxed: true refuses with a reason', async () => {
    const auto = await createWasmKernels({ memoryBytes: 1 << 20 })
    if (!relaxedSimdSupported()) {
      assert.equal(auto.name, 'wasm-simd')
      await assert.rejects(createWasmKernels({ relaxed: true, memoryBytes: 1 << 20 }), /relaxed SIMD requested but/)
    } else assert.match(auto.name, /^wasm-/)
  })

  it('alloc returns zeroed views that survive other allocations; free recycles; misuse throws', async () => {
    const k = await createWasmKernels({ relaxed: false, memoryBytes: 1 << 20 })
    const a = k.alloc(1000)
    a.fill(7)
    k.free(a)
    const b = k.alloc(1000)
    assert.equal(b.byteOffset, a.byteOffset) // first fit reuses the block
    assert.ok(b.every((v) => v === 0))
    const c = k.alloc(0)
    assert.equal(c.length, 0)
    assert.throws(() => k.free(b.subarray(1)), /no live block/)
    k.free(b)
    assert.throws(() => k.free(b), /double free/)
    assert.throws(() => k.free(new Float32Array(4)), /not allocated by this backend/)
    k.free(c)
  })

  it('running out of memory throws KernelOutOfMemory and leaves the backend usable', async () => {
    const k = await createWasmKernels({ relaxed: false, memoryBytes: 1 << 20 })
    const keep = k.alloc(120_000)
    assert.throws(() => k.alloc(300_000), (e: unknown) => e instanceof KernelOutOfMemory && e.requestedBytes === 1_200_000)
    const source: F32Source = { format: 'f32', rows: 600, cols: 600, data: new Float32Array(360_000) }
    assert.throws(() => k.prepareMatrix(source), KernelOutOfMemory)
    // a staged call whose temporaries do not fit fails cleanly and frees what it took
    const w: Matrix = k.prepareMatrix({ format: 'f32', rows: 4, cols: 30_000, data: new Float32Array(120_000).fill(1) })
    assert.throws(() => k.matmul(new Float32Array(4), new Float32Array(30_000), w, 1), KernelOutOfMemory)
    keep.fill(0.5)
    k.matmul(keep.subarray(0, 4), keep.subarray(10, 30_010), w, 1)
    assert.deepEqual([...keep.subarray(0, 4)], [15_000, 15_000, 15_000, 15_000])
    k.free(keep)
  })

  it('rejects matrices from another backend and short buffers', async () => {
    const k = await createWasmKernels({ relaxed: false, memoryBytes: 1 << 20 })
    const source: F32Source = { format: 'f32', rows: 3, cols: 5, data: new Float32Array(15) }
    assert.throws(() => k.matmul(new Float32Array(3), new Float32Array(5), ref.prepareMatrix(source), 1), TypeError)
    assert.throws(() => k.matmul(new Float32Array(2), new Float32Array(5), k.prepareMatrix(source), 1), /matmul out: 2 elements, needs 3/)
    assert.throws(() => k.prepareMatrix(quantizeQ8({ ...source, cols: 64, data: new Float32Array(192) }, 16) && { ...quantizeQ4({ ...source, cols: 64, data: new Float32Array(192) }), group: 16 }), /q4 groups must be 32 or 64/)
  })
})
