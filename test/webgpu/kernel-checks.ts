// Every WGSL kernel against the TypeScript reference kernels (src/reference/kernels.ts) on odd
// sizes (tile ± 1, non-multiples of 4 and 64), with tolerances from size · ε (f16 weights: the f16
// unit roundoff 2^-11 per weight). Runs under Deno and in the browser page; checks that need
// `shader-f16` say so and run only where the adapter has it.
import type { MatrixSource } from '../../src/backend.ts'
import { dequantize, quantizeQ4, quantizeQ8 } from '../../src/quant.ts'
import { createReferenceKernels } from '../../src/reference/kernels.ts'
import { KvCache } from '../../src/state.ts'
import type { Gpu } from '../../src/webgpu/gpu.ts'
import { matrixKernelNames, type KernelSet } from '../../src/webgpu/kernels.ts'
import { f16Bits, f16Value, gatherParams, matmulParams, matrixGrid, uploadMatrix, weightResources } from '../../src/webgpu/matrix.ts'
import { dispatch, EPS, EPS16, expectClose, expUlps, maxAbs, seeded } from './harness.ts'

export interface Check {
  readonly name: string
  /** Runs only on adapters with `shader-f16`. */
  readonly f16?: boolean
  readonly run: (gpu: Gpu, kernels: KernelSet) => Promise<void>
}

/** The checks an adapter can run. */
export const runnable = (checks: readonly Check[], gpu: Gpu) => checks.filter((c) => gpu.f16 || !c.f16)

const ref = createReferenceKernels()
const NO_LIMIT = 0xffffffff

function source(format: 'f32' | 'q8' | 'q4', rows: number, cols: number, seed: number): MatrixSource {
  const f32 = { format: 'f32' as const, rows, cols, data: seeded(seed)(rows * cols) }
  return format === 'f32' ? f32 : format === 'q8' ? quantizeQ8(f32, 32) : quantizeQ4(f32, 32)
}

const checks: Check[] = []
const check = (name: string, run: Check['run'], f16 = false) => checks.push({ name, run, f16 })
const roundedToF16 = (w: MatrixSource & { format: 'f32' }): MatrixSource => ({ ...w, data: w.data.map((v) => f16Value(f16Bits(v))) })

// [rows, cols, T]: T = 1 runs matvec, T > 1 the tiled matmul (tile 64 × 64 × 16)
const f32Shapes = [[5, 37, 1], [67, 131, 1], [63, 17, 3], [65, 130, 65], [129, 64, 70]]
const quantShapes = [[5, 64, 1], [67, 96, 1], [63, 32, 3], [65, 160, 65], [129, 64, 70]]
for (const format of ['f32', 'q8', 'q4'] as const) {
  const shapes = format === 'f32' ? f32Shapes : quantShapes
  for (const [rows, cols, T] of shapes) {
    const kernel = T === 1 ? matrixKernelNames(format).matvec : matrixKernelNames(format).matmul
    for (const accumulate of [false, true]) {
      check(`${kernel} ${rows}×${cols} T=${T}${accumulate ? ' accumulate, strided x' : ''}`, async (gpu, kernels) => {
        const w = source(format, rows, cols, rows * cols + T)
        const random = seeded(7 * rows + cols)
        const xOffset = accumulate ? 3 : 0
        const xStride = cols + (accumulate ? 5 : 0)
        const xs = random(T * xStride)
        const x = new Float32Array(T * cols)
        for (let t = 0; t < T; t++) x.set(xs.subarray(t * xStride + xOffset, t * xStride + xOffset + cols), t * cols)
        const base = accumulate ? random(T * rows) : new Float32Array(T * rows)
        const expected = new Float32Array(T * rows)
        ref.matmul(expected, x, ref.prepareMatrix(w), T)
        for (let i = 0; i < expected.length; i++) expected[i] += base[i]
        const m = uploadMatrix(gpu.device, 'w', w)
        const run = await dispatch(gpu, kernels, kernel, matmulParams(m, { xStride, xOffset, accumulate }), [T, 0, 0, 0], [xs, base, ...weightResources(m)], matrixGrid(rows, T))
        // accumulation over `cols` products: n·ε·max|w|·max|x|, plus the rounding of the sum with `base`
        const tol = cols * EPS * maxAbs(dequantize(w).data) * maxAbs(xs) + 2 * EPS * maxAbs(expected)
        expectClose(await run.read(3), expected, tol, kernel)
        m.data.destroy()
        m.scales?.destroy()
      })
    }
  }
  check(`${matrixKernelNames(format).gather} 7 rows of 33×${format === 'f32' ? 37 : 64}`, async (gpu, kernels) => {
    const w = source(format, 33, format === 'f32' ? 37 : 64, 99)
    const ids = [0, 32, 5, 5, 17, 1, 31]
    const expected = new Float32Array(ids.length * w.cols)
    ref.gatherRows(expected, ref.prepareMatrix(w), ids)
    const m = uploadMatrix(gpu.device, 'embed', w)
    const run = await dispatch(gpu, kernels, matrixKernelNames(format).gather, gatherParams(m), [ids.length, 0, 0, 0], [new Uint32Array(ids), { zeros: 4 * expected.length }, ...weightResources(m)], [Math.ceil(m.quads / 64), ids.length, 1])
    expectClose(await run.read(3), expected, 0, 'gather (exact: one rounding of scale · q)')
  })
}


// The f16 path: f32 weights rounded to f16 at upload, f32 products and sums. Against the reference
// on the f32 weights, the rounding adds ≤ 2^-11·|w| per weight (≤ 2^-25 absolute in f16's subnormal
// range); against the reference on the rounded weights, the f32 bound alone must hold.
for (const [rows, cols, T] of f32Shapes) {
  const kernel = T === 1 ? matrixKernelNames('f16').matvec : matrixKernelNames('f16').matmul
  check(`${kernel} ${rows}×${cols} T=${T}`, async (gpu, kernels) => {
    const w = { format: 'f32' as const, rows, cols, data: seeded(rows * cols + T)(rows * cols) }
    const x = seeded(7 * rows + cols)(T * cols)
    const m = uploadMatrix(gpu.device, 'w', w, { f16: true })
    if (m.layout !== 'f16') throw new Error(`uploaded as ${m.layout}, not f16`)
    const run = await dispatch(gpu, kernels, kernel, matmulParams(m, { xStride: cols }), [T, 0, 0, 0], [x, { zeros: 4 * T * rows }, ...weightResources(m)], matrixGrid(rows, T))
    const got = await run.read(3)
    const [wMax, xMax] = [maxAbs(w.data), maxAbs(x)]
    const exact = new Float32Array(T * rows)
    ref.matmul(exact, x, ref.prepareMatrix(w), T)
    expectClose(got, exact, cols * (EPS16 * wMax + 2 ** -25) * xMax + cols * EPS * wMax * xMax + 2 * EPS * maxAbs(exact), `${kernel} vs f32 weights`)
    const rounded = new Float32Array(T * rows)
    ref.matmul(rounded, x, ref.prepareMatrix(roundedToF16(w)), T)
    expectClose(got, rounded, cols * EPS * wMax * xMax, `${kernel} vs f16-rounded weights`)
    m.data.destroy()
  }, true)
}
check(`${matrixKernelNames('f16').gather} 7 rows of 33×37`, async (gpu, kernels) => {
  const w = { format: 'f32' as const, rows: 33, cols: 37, data: seeded(99)(33 * 37) }
  const ids = [0, 32, 5, 5, 17, 1, 31]
  const expected = new Float32Array(ids.length * w.cols)
  ref.gatherRows(expected, ref.prepareMatrix(roundedToF16(w)), ids)
  const m = uploadMatrix(gpu.device, 'embed', w, { f16: true })
  const run = await dispatch(gpu, kernels, matrixKernelNames('f16').gather, gatherParams(m), [ids.length, 0, 0, 0], [new Uint32Array(ids), { zeros: 4 * expected.length }, ...weightResources(m)], [Math.ceil(m.quads / 64), ids.length, 1])
  expectClose(await run.read(3), expected, 0, 'gather (exact: f16 → f32 widening)')
  m.data.destroy()
}, true)

check('f16Bits: round to nearest even, subnormals, overflow', async () => {
  const cases: [number, number][] = [[1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65519.99, 0x7bff], [65520, 0x7c00], [2 ** -14, 0x0400], [2 ** -24, 0x0001], [2 ** -25, 0x0000], [3 * 2 ** -25, 0x0002], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [0.1, 0x2e66]]
  for (const [x, bits] of cases) if (f16Bits(x) !== bits) throw new Error(`f16Bits(${x}) = 0x${f16Bits(x).toString(16)}, expected 0x${bits.toString(16)}`)
  for (let bits = 0; bits < 0x7c00; bits += 7) if (f16Bits(f16Value(bits)) !== bits) throw new Error(`0x${bits.toString(16)} does not round-trip`)
})

for (const [T, dim] of [[3, 1], [2, 7], [5, 65], [1, 257]]) {
  check(`rmsnorm_f32 T=${T} dim=${dim}`, async (gpu, kernels) => {
    const random = seeded(T * 1000 + dim)
    const x = random(T * dim, 3)
    const weight = random(dim)
    const expected = new Float32Array(T * dim)
    ref.rmsNorm(expected, x, weight, T, dim, 1e-6)
    const run = await dispatch(gpu, kernels, 'rmsnorm_f32', { u32: [dim, dim, 0, dim, 0, 0], f32: [1e-6] }, [T, 0, 0, 0], [x, { zeros: 4 * T * dim }, weight], [T, 1, 1])
    // Σx² over dim (dim·ε relative), the mean, sqrt and the two products
    expectClose(await run.read(3), expected, (dim + 4) * EPS * maxAbs(expected), 'rmsnorm')
  })
}

check('norm_mean_f32 T=3 E=131', async (gpu, kernels) => {
  const [T, E] = [3, 131]
  const random = seeded(5)
  const attn = random(T * E, 2)
  const ssm = random(T * E, 0.5)
  const weights = random(2 * E)
  const a = new Float32Array(T * E)
  const b = new Float32Array(T * E)
  ref.rmsNorm(a, attn, weights.subarray(0, E), T, E, 1e-6)
  ref.rmsNorm(b, ssm, weights.subarray(E), T, E, 1e-6)
  ref.mean2(a, a, b, T * E)
  const run = await dispatch(gpu, kernels, 'norm_mean_f32', { u32: [E, 0, E], f32: [1e-6] }, [T, 0, 0, 0], [ssm, attn, weights], [T, 1, 1])
  expectClose(await run.read(3), a, (E + 6) * EPS * 2 * maxAbs(a), 'norm_mean')
})

check('split_rope_f32 T=5, nh=3 nkv=1 hd=6, E=13, positions 130…', async (gpu, kernels) => {
  const [T, nh, nkv, hd, vd, E, pos0] = [5, 3, 1, 6, 7, 13, 130]
  const widths = [nh * hd, nkv * hd, nkv * vd, E, E]
  const total = widths.reduce((x, y) => x + y)
  const proj = seeded(11)(T * total, 2)
  const invFreq = Float32Array.from({ length: hd / 2 }, (_, j) => 1 / Math.pow(10000, (2 * j) / hd))
  const parts = widths.map((w, i) => {
    const start = widths.slice(0, i).reduce((x, y) => x + y, 0)
    const out = new Float32Array(T * w)
    for (let t = 0; t < T; t++) out.set(proj.subarray(t * total + start, t * total + start + w), t * w)
    return out
  })
  ref.rope(parts[0], T, nh, hd, pos0, invFreq)
  ref.rope(parts[1], T, nkv, hd, pos0, invFreq)
  const rope = new Float32Array(T * hd)
  for (let t = 0; t < T; t++)
    for (let j = 0; j < hd / 2; j++) {
      const angle = Math.fround((pos0 + t) * invFreq[j])
      rope[2 * (t * (hd / 2) + j)] = Math.cos(angle)
      rope[2 * (t * (hd / 2) + j) + 1] = Math.sin(angle)
    }
  const outs = [parts[0], parts[3], parts[4], parts[1], parts[2]].map((p) => ({ zeros: p.byteLength }))
  const run = await dispatch(gpu, kernels, 'split_rope_f32', { u32: [nh * hd, nkv * hd, nkv * vd, E, hd, 1] }, [T, 0, pos0, 0], [proj, rope, ...outs], [Math.ceil(total / 64), T, 1])
  const tol = 3 * EPS * maxAbs(proj)
  expectClose(await run.read(4), parts[0], tol, 'q')
  expectClose(await run.read(5), parts[3], 0, 'u')
  expectClose(await run.read(6), parts[4], 0, 'z')
  expectClose(await run.read(7), parts[1], tol, 'k')
  expectClose(await run.read(8), parts[2], 0, 'v')
})

// The producer's cache before the step, as src/state.ts KvCache lays it out, for pos0 packed rows.
function ringCache(M: number, W: number, sliding: boolean, pos0: number, kw: number, vw: number, seed: number) {
  const cache = KvCache.empty(ref, sliding ? 'sliding' : 'global', kw, vw, M, W)
  const random = seeded(seed)
  cache.write(random(pos0 * kw), random(pos0 * vw), pos0, 0)
  return cache
}

const attentionCases = [
  // [name, T, pos0, sliding, rule]
  ['decode, sliding ring wrapped', 1, 4 + 23, true, 'decode'],
  ['decode, global', 1, 4 + 23, false, 'decode'],
  ['prefill chunk of 70 from the meta prefix, sliding', 70, 4, true, 'prefill'],
  ['append chunk of 13 on a wrapped ring', 13, 4 + 30, true, 'decode'],
  ['prefill chunk of 9, global', 9, 4, false, 'prefill'],
] as const
for (const [label, T, pos0, sliding, rule] of attentionCases) {
  check(`attention_f32 ${label} (nh=4 nkv=2 hd=5 vd=67, M=4 W=11)`, async (gpu, kernels) => {
    const [nh, nkv, hd, vd, M, W] = [4, 2, 5, 67, 4, 11]
    const span = sliding ? (rule === 'prefill' ? W : W - 1) : Infinity
    const cache = ringCache(M, W, sliding, pos0, nkv * hd, nkv * vd, 3 * T + pos0)
    const random = seeded(T + 17 * pos0)
    const q = random(T * nh * hd, 2)
    const stepKeys = random(T * nkv * hd, 2)
    const stepValues = random(T * nkv * vd)
    const S = cache.length + T
    const keys = new Float32Array(S * nkv * hd)
    keys.set(cache.keys.subarray(0, cache.length * nkv * hd))
    keys.set(stepKeys, cache.length * nkv * hd)
    const values = new Float32Array(S * nkv * vd)
    values.set(cache.values.subarray(0, cache.length * nkv * vd))
    values.set(stepValues, cache.length * nkv * vd)
    const positions = new Int32Array(S)
    positions.set(cache.positions.subarray(0, cache.length))
    for (let t = 0; t < T; t++) positions[cache.length + t] = pos0 + t
    const expected = new Float32Array(T * nh * vd)
    ref.attention(expected, q, keys, values, positions, { queries: T, keys: S, heads: nh, kvHeads: nkv, headDim: hd, valueDim: vd, queryPos0: pos0, metaTokens: M, span })
    const spanCode = span === Infinity ? NO_LIMIT : span
    const params = { u32: [nh, nkv, hd, vd, M, W, sliding ? 1 : 0, spanCode, spanCode], f32: [1 / Math.sqrt(hd)] }
    const run = await dispatch(gpu, kernels, 'attention_f32', params, [T, 0, pos0, rule === 'prefill' ? 0 : 1], [q, cache.keys, cache.values, cache.positions, stepKeys, stepValues, { zeros: expected.byteLength }], [nh, T, 1])
    // scores: hd products (hd·ε·max|q|·max|k|·scale, relative through exp), then S weighted sums
    const scoreErr = (hd + 2) * EPS * maxAbs(q) * Math.max(maxAbs(keys), 1) / Math.sqrt(hd) + expUlps(2 * hd) * EPS
    expectClose(await run.read(8), expected, (2 * scoreErr + (S + 4) * EPS) * maxAbs(values), 'attention')
  })
}

for (const [label, T, pos0, sliding] of [['sliding, T=15 across the ring', 15, 4 + 9, true], ['sliding, one token', 1, 4 + 30, true], ['global, T=6', 6, 4 + 20, false]] as const) {
  check(`kv_store_f32 ${label} (M=4 W=11, kw=10 vw=67)`, async (gpu, kernels) => {
    const [M, W, kw, vw] = [4, 11, 10, 67]
    const cache = ringCache(M, W, sliding, pos0, kw, vw, 77)
    const capacity = sliding ? M + W : pos0 + T
    const keysBefore = new Float32Array(capacity * kw)
    keysBefore.set(cache.keys.subarray(0, Math.min(cache.keys.length, capacity * kw)))
    const valuesBefore = new Float32Array(capacity * vw)
    valuesBefore.set(cache.values.subarray(0, Math.min(cache.values.length, capacity * vw)))
    const positionsBefore = new Int32Array(capacity)
    positionsBefore.set(cache.positions.subarray(0, Math.min(cache.positions.length, capacity)))
    const random = seeded(T)
    const stepKeys = random(T * kw)
    const stepValues = random(T * vw)
    cache.write(stepKeys, stepValues, T, pos0)
    const run = await dispatch(gpu, kernels, 'kv_store_f32', { u32: [kw, vw, M, W, sliding ? 1 : 0] }, [T, 0, pos0, 1], [stepKeys, stepValues, keysBefore, valuesBefore, positionsBefore], [Math.ceil((vw + 1) / 64), T, 1])
    const rows = cache.length
    expectClose((await run.read(4)).subarray(0, rows * kw), cache.keys.subarray(0, rows * kw), 0, 'keys')
    expectClose((await run.read(5)).subarray(0, rows * vw), cache.values.subarray(0, rows * vw), 0, 'values')
    expectClose((await run.readInt(6)).subarray(0, rows), cache.positions.subarray(0, rows), 0, 'positions')
  })
}

for (const T of [1, 5]) {
  check(`causal_conv_f32 T=${T} E=67 K=4`, async (gpu, kernels) => {
    const [E, K] = [67, 4]
    const random = seeded(T + 40)
    const x = random(T * E, 2)
    const state = random(K * E, 2)
    const weight = random(E * K)
    const bias = random(E)
    const expectedState = state.slice()
    const expected = new Float32Array(T * E)
    ref.causalConv(expected, x, expectedState, weight, bias, T, E, K)
    const vectors = new Float32Array([...weight, ...bias])
    const run = await dispatch(gpu, kernels, 'causal_conv_f32', { u32: [E, K, 0, E * K, 1] }, [T, 0, 0, 0], [x, vectors, state, { zeros: expected.byteLength }], [Math.ceil(E / 64), 1, 1])
    const accMax = maxAbs(bias) + K * maxAbs(weight) * 2
    expectClose(await run.read(5), expected, (K + 2 + expUlps(accMax)) * EPS * accMax, 'conv out')
    expectClose(await run.read(4), expectedState, 0, 'conv state')
  })
}

for (const T of [1, 9]) {
  check(`ssm_scan_f32 T=${T} E=37 N=16 (R=3)`, async (gpu, kernels) => {
    const [E, N, R] = [37, 16, 3]
    const random = seeded(T + 90)
    const u = random(T * E, 2)
    const dt = random(T * E, 3)
    const z = random(T * E, 3)
    const bc = random(T * (R + 2 * N))
    const dtBias = random(E)
    const A = random(E * N).map((a) => -Math.exp(a))
    const D = random(E)
    const state = random(E * N)
    const B = new Float32Array(T * N)
    const C = new Float32Array(T * N)
    for (let t = 0; t < T; t++) {
      B.set(bc.subarray(t * (R + 2 * N) + R, t * (R + 2 * N) + R + N), t * N)
      C.set(bc.subarray(t * (R + 2 * N) + R + N, t * (R + 2 * N) + R + 2 * N), t * N)
    }
    const expectedState = state.slice()
    const expected = new Float32Array(T * E)
    ref.selectiveScan(expected, expectedState, u, dt, dtBias, A, B, C, D, z, T, E, N)
    const vectors = new Float32Array([...dtBias, ...A, ...D])
    const params = { u32: [E, N, R + 2 * N, R, R + N, 0, E, E + E * N] }
    const run = await dispatch(gpu, kernels, 'ssm_scan_f32', params, [T, 0, 0, 0], [u, dt, bc, z, vectors, state, { zeros: expected.byteLength }], [Math.ceil(E / 64), 1, 1])
    // per step: softplus and exp(Δ·A) (exp bound at |Δ·A| ≤ 4·e), N products into y; errors add over T
    const perStep = (N + 4 + 2 * expUlps(4 * Math.E)) * EPS
    expectClose(await run.read(8), expected, T * perStep * Math.max(1, maxAbs(expected)), 'scan out')
    expectClose(await run.read(7), expectedState, T * perStep * Math.max(1, maxAbs(expectedState)), 'scan state')
  })
}

for (const relu2 of [false, true]) {
  check(`gate_f32 ${relu2 ? 'relu2' : 'silu'} T=3 F=131`, async (gpu, kernels) => {
    const [T, F] = [3, 131]
    const random = seeded(relu2 ? 1 : 2)
    const gate = random(T * F, 6)
    const up = random(T * F, 2)
    const expected = new Float32Array(T * F)
    if (relu2) ref.relu2(expected, up, T * F)
    else ref.siluMul(expected, gate, up, T * F)
    const run = await dispatch(gpu, kernels, 'gate_f32', { u32: [F, relu2 ? 1 : 0] }, [T, 0, 0, 0], [gate, up], [Math.ceil(F / 64), T, 1])
    expectClose(await run.read(3), expected, (4 + expUlps(6)) * EPS * maxAbs(expected), relu2 ? 'relu2' : 'silu gate')
  })
}

// top_k_f32 against a full sort by (logit desc, id asc), ties planted; log Σ exp against float64.
for (const [V, k, rows] of [[1003, 1, 1], [32001, 7, 3], [300, 40, 2]] as const) {
  check(`top_k_f32 V=${V} k=${k}, last of ${rows} rows`, async (gpu, kernels) => {
    const logits = seeded(V + k)(rows * V, 8)
    const row = rows - 1
    const base = row * V
    for (const i of [5, 77, 150, 299]) logits[base + i] = 9 // a tie for the top: ids 5, 77, 150, 299 in that order
    logits[base + 200] = logits[base + 201] = 8.5
    const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => logits[base + b] - logits[base + a] || a - b)
    let top = -Infinity
    for (let i = 0; i < V; i++) top = Math.max(top, logits[base + i])
    let sum = 0
    for (let i = 0; i < V; i++) sum += Math.exp(logits[base + i] - top)
    const run = await dispatch(gpu, kernels, 'top_k_f32', { u32: [V, k, 1, 1] }, [rows, 0, 0, 0], [logits, { zeros: 4 * 2 * (2 * k + 1) }, { zeros: 16 }], [1, 1, 1])
    const words = await run.readInt(3)
    const record = words.subarray(2 * k + 1, 2 * (2 * k + 1)) // slot 1
    const ids = Array.from(record.subarray(0, k))
    if (ids.join(',') !== order.slice(0, k).join(',')) throw new Error(`ids ${ids.join(',')}, expected ${order.slice(0, k).join(',')}`)
    const values = new Float32Array(record.buffer, record.byteOffset, 2 * k + 1)
    expectClose(values.subarray(k, 2 * k), order.slice(0, k).map((i) => logits[base + i]), 0, 'top values')
    // Σ exp over V terms (V·ε relative, exp within expUlps of the range), the log and the final add
    const range = top - Math.min(...logits.subarray(base, base + V))
    expectClose([values[2 * k]], [top + Math.log(sum)], (V + expUlps(range) + 4) * EPS + 2 ** -21 + EPS * Math.abs(top + Math.log(sum)), 'log Σ exp')
    const fed = (await run.readInt(4))[0]
    if (fed !== order[0]) throw new Error(`ids[0] = ${fed}, expected ${order[0]}`)
  })
}

export const kernelChecks = checks
