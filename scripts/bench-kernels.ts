// Kernel benchmark (issue 3): GFLOP/s and GB/s of the WASM matvec kernels at Hymba-1.5B shapes for
// f32 / q8 / q4, beside the machine limits measured in the same run (wasm f32x4 mul+add peak,
// streaming read bandwidth) and beside onnxruntime-web (wasm, 1 thread) on the same shapes.
// Run alone it prints a table and writes bench/results-kernels.json (flags: --quick: one shape,
// writes nothing; --no-ort; --json: print the result as JSON only); scripts/bench.ts imports it. Under `node --experimental-wasm-relaxed-simd --no-liftoff` it measures the relaxed build.
// Owns: the timing loop and the Node runs (the ONNX graphs and seeded data: scripts/ort-graphs.ts,
// shared with the bench worker that runs them inside workerd). Must not import: worker/.
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import * as ort from 'onnxruntime-web'
import type { MatrixSource } from '../src/backend.ts'
import { createWasmKernels } from '../wasm/loader.ts'
import { compileKernels } from './asc.ts'
import { LimitProbe, type MachineLimits } from './limit-probe.ts'
import { DEFAULT_GROUP } from '../src/bundle/convert.ts'
import { ortModel, randomBytes, randomF32 } from './ort-graphs.ts'

export const SHAPES: Array<[string, number, number]> = [
  // [name, cols (in), rows (out)]
  ['in_proj 1600→8960', 1600, 8960],
  ['in_proj 1600→8000', 1600, 8000],
  ['out_proj 3200→1600', 3200, 1600],
  ['gate/up 1600→5504', 1600, 5504],
  ['down 5504→1600', 5504, 1600],
  ['logits 1600→32001', 1600, 32001],
]

/** Median seconds per call: calls batched to ≥ 20 ms, 7 batches after a warm-up (≥ ~0.2 s per row). */
async function timeIt(fn: () => unknown | Promise<unknown>): Promise<number> {
  const clock = () => performance.now()
  for (let i = 0; i < 2; i++) await fn()
  let reps = 1
  for (;;) {
    const t0 = clock()
    for (let i = 0; i < reps; i++) await fn()
    const dt = clock() - t0
    if (dt >= 20) break
    reps *= Math.max(2, Math.min(16, Math.ceil(25 / Math.max(dt, 0.01))))
  }
  const samples: number[] = []
  for (let b = 0; b < 7; b++) {
    const t0 = clock()
    for (let i = 0; i < reps; i++) await fn()
    samples.push((clock() - t0) / reps / 1000)
  }
  return samples.sort((a, b) => a - b)[3]
}

/**
 * Random sources of each format (the bench measures speed, so no real quantisation needed), at the
 * groups the bundles use by default (src/bundle/convert.ts): 64 columns per scale for q8, 32 for q4.
 */
function sources(rows: number, cols: number): MatrixSource[] {
  const scales = (group: number) => randomF32((rows * cols) / group, 3).map((v) => 0.01 + Math.abs(v) * 0.01)
  const q8 = new Int8Array(randomBytes(rows * cols, 2).buffer).map((v) => Math.max(-127, v))
  return [
    { format: 'f32', rows, cols, data: randomF32(rows * cols, 1) },
    { format: 'q8', rows, cols, group: DEFAULT_GROUP.int8, data: q8, scales: scales(DEFAULT_GROUP.int8) },
    { format: 'q4', rows, cols, group: DEFAULT_GROUP.int4, data: randomBytes((rows * cols) / 2, 4), scales: scales(DEFAULT_GROUP.int4) },
  ]
}

// ---- machine limits (measured by scripts/limit-probe.ts) --------------------------------------

/** The limits module (kernels/limits.ts), compiled by AssemblyScript. */
export const limitsModule = () => compileKernels('kernels/limits.ts', { relaxed: false })

/** The relaxed-SIMD limits module (kernels/limits_relaxed.ts): the FMA peak. */
export const limitsRelaxedModule = () => compileKernels('kernels/limits_relaxed.ts', { relaxed: true })

// ---- run --------------------------------------------------------------------------------------

export interface KernelRow {
  shape: string
  rows: number
  cols: number
  format: 'f32' | 'q8' | 'q4'
  T: number
  ms: number
  gflops: number
  gbs: number // weight (and scale) bytes streamed per second
  ortMs?: number
  ortGflops?: number
  ortError?: string
  roundGflops?: Array<number | undefined> // workerd rows: each round's speed (scripts/bench.ts KERNEL_ROUNDS)
}

export interface KernelBenchOptions {
  shapes?: Array<[string, number, number]>
  ort?: boolean
  /** Token counts for the T > 1 rows (blocked matmul), measured at gate/up 1600→5504. */
  prefillT?: number[]
  log?: (line: string) => void
}

/** Every shape × format at T = 1 (and the prefill Ts on one shape), beside ORT at T = 1. */
export async function benchKernels(limits: MachineLimits, options: KernelBenchOptions = {}): Promise<{ backend: string; rows: KernelRow[] }> {
  const shapes = options.shapes ?? SHAPES
  const log = options.log ?? console.log
  ort.env.wasm.numThreads = 1
  ort.env.logLevel = 'error'
  let backend = ''
  const rows: KernelRow[] = []
  for (const [shape, cols, outRows] of shapes) {
    const srcs = sources(outRows, cols)
    const bytes = srcs.reduce((n, s) => n + s.data.byteLength + (s.format === 'f32' ? 0 : s.scales.byteLength), 0)
    // one backend per shape (prepared matrices live as long as their backend)
    const k = await createWasmKernels({ memoryBytes: Math.ceil((bytes * 1.1 + (64 << 20)) / 65536) * 65536 })
    backend = k.name
    for (const src of srcs) {
      const w = k.prepareMatrix(src)
      const Ts = src.rows === 5504 && src.cols === 1600 ? [1, ...(options.prefillT ?? [64])] : [1]
      for (const T of Ts) {
        const x = k.alloc(T * cols)
        x.set(randomF32(T * cols, 12))
        const out = k.alloc(T * outRows)
        const seconds = await timeIt(() => k.matmul(out, x, w, T))
        const flops = 2 * T * outRows * cols
        const row: KernelRow = { shape, rows: outRows, cols, format: src.format, T, ms: seconds * 1e3, gflops: flops / seconds / 1e9, gbs: w.bytes / seconds / 1e9 }
        if (options.ort !== false && T === 1) {
          try {
            const { model, input } = ortModel(src.format, outRows, cols)
            const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'], graphOptimizationLevel: 'disabled' })
            const feeds = { A: new ort.Tensor(input.type, input.data, input.dims) }
            const ortSeconds = await timeIt(() => session.run(feeds))
            await session.release()
            row.ortMs = ortSeconds * 1e3
            row.ortGflops = flops / ortSeconds / 1e9
          } catch (e) {
            row.ortError = (e as Error).message.split('\n')[0]
          }
        }
        rows.push(row)
        const ortText = row.ortGflops !== undefined ? `  ORT ${row.ortMs!.toFixed(3)} ms ${row.ortGflops.toFixed(1)} GFLOP/s  ×${(row.gflops / row.ortGflops).toFixed(1)}` : row.ortError ? `  ORT error: ${row.ortError}` : ''
        log(`${shape.padEnd(20)} ${src.format} T=${String(T).padEnd(3)} ${row.ms.toFixed(3).padStart(8)} ms ` +
          `${row.gflops.toFixed(1).padStart(6)} GFLOP/s ${row.gbs.toFixed(1).padStart(6)} GB/s (${((100 * row.gbs) / limits.streamGBs).toFixed(0)}% of 256 MiB stream)${ortText}`)
        k.free(x)
        k.free(out)
      }
    }
  }
  return { backend, rows }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const args = new Set(process.argv.slice(2))
  const json = args.has('--json')
  const log = json ? () => {} : console.log
  const probe = await LimitProbe.create(await WebAssembly.compile(await limitsModule()), undefined, () => performance.now())
  probe.probe()
  const limits = probe.limits
  log(`wasm f32x4 mul+add peak ${limits.mulAddGflops.toFixed(1)} GFLOP/s; ` +
    `streaming read ${limits.streamGBs.toFixed(1)} GB/s (256 MiB; one sequential stream ${limits.sequentialGBs.toFixed(1)}), ${limits.stream32MiBGBs.toFixed(1)} GB/s (32 MiB)`)
  const { backend, rows } = await benchKernels(limits, { shapes: args.has('--quick') ? SHAPES.slice(3, 4) : SHAPES, ort: !args.has('--no-ort'), log })
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: os.cpus()[0]?.model,
    backend,
    onnxruntimeWeb: ort.env.versions.web,
    limits,
    notes: 'GB/s = prepared weight + scale bytes per second; ORT: wasm backend, 1 thread, MatMul / MatMulInteger (u8×i8→i32) / MatMulNBits (4 bit, block 32), M = 1',
    rows,
  }
  if (json) console.log(JSON.stringify(result))
  else if (!args.has('--quick')) {
    mkdirSync('bench', { recursive: true })
    writeFileSync('bench/results-kernels.json', JSON.stringify(result, null, 2) + '\n')
    console.log('wrote bench/results-kernels.json')
  }
}
