// The end-to-end benchmark inside workerd (issue 3: "the end-to-end numbers inside workerd too"):
// a tiny Worker that scripts/bench.ts bundles and runs in Miniflare. It loads a model folder (HF
// checkpoint or bundle) through the FILES service binding (served by the Node host), builds the
// kernels from the imported, precompiled .wasm modules (relaxed SIMD when workerd has it, which it
// does by default), and answers GET /run?dirs=[…]&memories=[…]&prompt=…&decode=…&reps=… with one JSON row per
// model (their runs interleaved, scripts/bench-e2e.ts measureModels; limits probed around them all),
// GET /kernels?shapes=[[name, cols, rows], …] with the q8 / q4 matvec speed at T = 1 (random
// weights, the bundles' default groups, 64 for both): the relaxed dot there is the one workerd compiles (vpdpbusd on AVX-VNNI), and
// GET /ort?shapes=… with onnxruntime-web's f32 / q8 / q4 speed at M = 1 on the same shapes inside
// workerd (wasm backend, 1 thread, no proxy; graphs from scripts/ort-graphs.ts; the ORT wasm module
// imported precompiled and handed over by scripts/ort-wasm-factory.ts), timed by the same timeIt.
// /run also probes the machine's limits (scripts/limit-probe.ts) before and after its decode timing.
// Owns: the bench worker. Must not import: worker/, Node built-ins.
import type { MatrixSource } from '../src/backend.ts'
import type { CheckpointSource } from '../src/checkpoint.ts'
import { DEFAULT_GROUP } from '../src/bundle/convert.ts'
import { loadModel } from '../src/load.ts'
import type { HymbaModel } from '../src/model.ts'
import { createWasmKernelsFromModules } from '../wasm/loader.ts'
// @ts-expect-error: a CompiledWasm module rule in Miniflare (scripts/bench.ts)
import simd from './kernels-simd.wasm'
// @ts-expect-error: as above
import relaxed from './kernels-relaxed.wasm'
// @ts-expect-error: as above (kernels/limits.ts and kernels/limits_relaxed.ts, compiled by scripts/bench.ts)
import limitsPlain from './limits.wasm'
// @ts-expect-error: as above
import limitsRelaxed from './limits-relaxed.wasm'
import { measureModels } from './bench-e2e.ts'
import { LimitProbe } from './limit-probe.ts'
import * as ort from 'onnxruntime-web/wasm'
import { ortModel, type Format, type OrtRow } from './ort-graphs.ts'

/** A model folder served by the host over the FILES binding. */
function folder(env: Env, dir: string): CheckpointSource {
  return {
    name: dir,
    async read(file) {
      const r = await env.FILES.fetch(`http://files${dir}/${file}`)
      if (!r.ok) throw new Error(`${dir}/${file}: ${r.status}`)
      return new Uint8Array(await r.arrayBuffer())
    },
    async exists(file) {
      return (await env.FILES.fetch(`http://files${dir}/${file}`, { method: 'HEAD' })).ok
    },
  }
}

interface Env {
  FILES: { fetch(input: string, init?: RequestInit): Promise<Response> }
}

/** Median seconds per call: batches of ≥ 50 ms, 5 batches after a warm-up. Awaits each call (ORT's run is async). */
async function timeIt(fn: () => unknown): Promise<number> {
  await fn()
  let reps = 1
  for (;;) {
    const t0 = performance.now()
    for (let i = 0; i < reps; i++) await fn()
    if (performance.now() - t0 >= 50) break // workerd's clock ticks in whole ms: ≥ 50 ms keeps that under 2 %
    reps *= 2
  }
  const samples: number[] = []
  for (let b = 0; b < 5; b++) {
    const t0 = performance.now()
    for (let i = 0; i < reps; i++) await fn()
    samples.push((performance.now() - t0) / reps / 1000)
  }
  return samples.sort((a, b) => a - b)[2]
}

async function kernelRows(shapes: Array<[string, number, number]>): Promise<unknown[]> {
  let seed = 7
  const rand = () => {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0
    return seed / 2 ** 32
  }
  const rows: unknown[] = []
  for (const [shape, cols, outRows] of shapes) {
    const scales = (group: number) => Float32Array.from({ length: (outRows * cols) / group }, () => 0.01 + rand() * 0.01)
    const srcs: MatrixSource[] = [
      { format: 'q8', rows: outRows, cols, group: DEFAULT_GROUP.int8, data: Int8Array.from({ length: outRows * cols }, () => Math.round(rand() * 254 - 127)), scales: scales(DEFAULT_GROUP.int8) },
      { format: 'q4', rows: outRows, cols, group: DEFAULT_GROUP.int4, data: Uint8Array.from({ length: (outRows * cols) / 2 }, () => (rand() * 256) | 0), scales: scales(DEFAULT_GROUP.int4) },
    ]
    const memoryBytes = Math.ceil((outRows * cols * 1.3 + (32 << 20)) / 65536) * 65536
    const kernels = await createWasmKernelsFromModules({ simd: simd as WebAssembly.Module, relaxed: relaxed as WebAssembly.Module }, { memoryBytes })
    for (const src of srcs) {
      const w = kernels.prepareMatrix(src)
      const x = kernels.alloc(cols)
      for (let i = 0; i < cols; i++) x[i] = rand() - 0.5
      const out = kernels.alloc(outRows)
      const seconds = await timeIt(() => kernels.matmul(out, x, w, 1))
      const flops = 2 * outRows * cols
      rows.push({ shape, rows: outRows, cols, format: src.format, T: 1, backend: kernels.name, ms: seconds * 1e3, gflops: flops / seconds / 1e9, gbs: w.bytes / seconds / 1e9 })
    }
  }
  return rows
}

/** onnxruntime-web at M = 1, one session per shape × precision; a row carries `error` where ORT failed. */
async function ortRows(shapes: Array<[string, number, number]>): Promise<OrtRow[]> {
  ort.env.wasm.numThreads = 1
  ort.env.wasm.proxy = false
  ort.env.wasm.wasmPaths = { mjs: './ort-wasm-factory.js' }
  ort.env.logLevel = 'error'
  const rows: OrtRow[] = []
  for (const [shape, cols, outRows] of shapes) {
    for (const format of ['f32', 'q8', 'q4'] as Format[]) {
      const flops = 2 * outRows * cols
      try {
        const { model, input } = ortModel(format, outRows, cols)
        const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'], graphOptimizationLevel: 'disabled' })
        const feeds = { A: new ort.Tensor(input.type, input.data, input.dims) }
        const seconds = await timeIt(() => session.run(feeds))
        await session.release()
        rows.push({ shape, rows: outRows, cols, format, ms: seconds * 1e3, gflops: flops / seconds / 1e9 })
      } catch (e) {
        rows.push({ shape, rows: outRows, cols, format, error: String((e as Error).message ?? e).split('\n')[0] })
      }
    }
  }
  return rows
}

const ENDPOINTS: Record<string, (shapes: Array<[string, number, number]>) => Promise<unknown[]>> = { '/kernels': kernelRows, '/ort': ortRows }

/** The probe modules and their 256 MiB stream buffer, instantiated once per isolate; every /run takes a fresh probe over them. */
let probes: Promise<LimitProbe> | undefined

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url)
    const endpoint = ENDPOINTS[url.pathname]
    if (endpoint) {
      try {
        return Response.json(await endpoint(JSON.parse(url.searchParams.get('shapes') ?? '[]')))
      } catch (e) {
        return Response.json({ error: String((e as Error).stack ?? e) }, { status: 500 })
      }
    }
    const q = (name: string, fallback: number) => Number(url.searchParams.get(name) ?? fallback)
    try {
      const dirs = JSON.parse(url.searchParams.get('dirs') ?? '[]') as string[]
      const memories = JSON.parse(url.searchParams.get('memories') ?? '[]') as number[]
      // each model in its own kernels (its own wasm memory of the size asked); one that fails to load
      // is a row with its error, the others run
      const rows: Array<Record<string, unknown>> = []
      const loaded: Array<{ row: Record<string, unknown>; model: HymbaModel; peakBytes: () => number }> = []
      for (const [i, dir] of dirs.entries()) {
        const memoryBytes = memories[i] ?? 256 << 20
        try {
          const kernels = await createWasmKernelsFromModules({ simd: simd as WebAssembly.Module, relaxed: relaxed as WebAssembly.Module }, { memoryBytes })
          const t0 = performance.now()
          const model = await loadModel(folder(env, dir), { kernels })
          const row: Record<string, unknown> = { backend: kernels.name, loadMs: performance.now() - t0, memoryBytes }
          const allocator = (kernels as unknown as { allocator: { peakBytes: number } }).allocator
          rows.push(row)
          loaded.push({ row, model, peakBytes: () => allocator.peakBytes })
        } catch (e) {
          rows.push({ error: String((e as Error).stack ?? e), memoryBytes })
        }
      }
      // the limits of these runs' own minutes: a probe keeps the best of its sets, so one shared by
      // every request would hand later rows the best of all rows before them
      const limits = (await (probes ??= LimitProbe.create(limitsPlain as WebAssembly.Module, limitsRelaxed as WebAssembly.Module, () => performance.now()))).on(() => performance.now())
      limits.probe()
      const results = measureModels(loaded, { promptTokens: q('prompt', 128), decodeTokens: q('decode', 32), repetitions: q('reps', 5) })
      limits.probe()
      loaded.forEach(({ row, peakBytes }, i) => Object.assign(row, { wasmPeakBytes: peakBytes(), limits: limits.limits }, results[i]))
      return Response.json(rows)
    } catch (e) {
      return Response.json({ error: String((e as Error).stack ?? e) }, { status: 500 })
    }
  },
}
