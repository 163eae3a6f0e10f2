// Kernel benchmark (issue 3): GFLOP/s and GB/s of the WASM matvec kernels at Hymba-1.5B shapes for
// f32 / q8 / q4, beside the machine limits measured in the same run (wasm f32x4 mul+add peak,
// streaming read bandwidth) and beside onnxruntime-web (wasm, 1 thread) on the same shapes.
// Run alone it prints a table and writes bench/results-kernels.json (flags: --quick: one shape,
// writes nothing; --no-ort; --json: print the result as JSON only); scripts/bench.ts imports it. Under `node --experimental-wasm-relaxed-simd --no-liftoff` it measures the relaxed build.
// Owns: the tiny ONNX graphs (protobuf written by hand below) and the timing loop.
// Must not import: worker/.
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import * as ort from 'onnxruntime-web'
import type { MatrixSource } from '../src/backend.ts'
import { createWasmKernels } from '../wasm/loader.ts'
import { compileKernels } from './asc.ts'

export const SHAPES: Array<[string, number, number]> = [
  // [name, cols (in), rows (out)]
  ['in_proj 1600→8960', 1600, 8960],
  ['in_proj 1600→8000', 1600, 8000],
  ['out_proj 3200→1600', 3200, 1600],
  ['gate/up 1600→5504', 1600, 5504],
  ['down 5504→1600', 5504, 1600],
  ['logits 1600→32001', 1600, 32001],
]
const GROUP = 32

/** Process CPU time in ms (user + system): unlike the wall clock, not stretched by other processes on a shared machine. */
export const cpuClock = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e3
}

/** Median seconds per call: calls batched to ≥ 20 ms, 7 batches after a warm-up (≥ ~0.2 s per row). clock: ms (default wall). */
export async function timeIt(fn: () => unknown | Promise<unknown>, clock: () => number = () => performance.now()): Promise<number> {
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

function rand(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (Math.imul(a ^ (a >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0
    return a / 2 ** 32
  }
}
function randomF32(n: number, seed: number): Float32Array {
  const r = rand(seed)
  const a = new Float32Array(n)
  for (let i = 0; i < n; i++) a[i] = r() - 0.5
  return a
}
function randomBytes(n: number, seed: number): Uint8Array {
  const r = rand(seed)
  const a = new Uint8Array(n)
  for (let i = 0; i < n; i++) a[i] = (r() * 256) | 0
  return a
}
/** Random sources of each format (the bench measures speed, so no real quantisation needed). */
function sources(rows: number, cols: number): MatrixSource[] {
  const scales = randomF32((rows * cols) / GROUP, 3).map((v) => 0.01 + Math.abs(v) * 0.01)
  const q8 = new Int8Array(randomBytes(rows * cols, 2).buffer).map((v) => Math.max(-127, v))
  return [
    { format: 'f32', rows, cols, data: randomF32(rows * cols, 1) },
    { format: 'q8', rows, cols, group: GROUP, data: q8, scales },
    { format: 'q4', rows, cols, group: GROUP, data: randomBytes((rows * cols) / 2, 4), scales },
  ]
}

// ---- machine limits -------------------------------------------------------------------------

interface LimitExports {
  peak_mul_add_f32(iters: number): number
  stream_read_f32(ptr: number, bytes: number): number
}
export interface Limits {
  peakGflops: number // wasm f32x4 mul+add, one core
  streamGBs: number // sequential read of 256 MiB of wasm memory
  stream32MiBGBs: number // the same over 32 MiB (may sit partly in the last-level cache)
  /**
   * The same three timed in process CPU time, in a fresh child process (scripts/bench.ts): what one core
   * does while it runs (the e2e "CPU" roofline uses these). Not in this process: after the
   * AssemblyScript compiler ran, V8 keeps tiering up binaryen's wasm on background threads, which
   * process CPU time counts (measured here: half the peak).
   */
  cpu?: { peakGflops: number; streamGBs: number; stream32MiBGBs: number }
}

/** The limits module (kernels/limits.ts), compiled by AssemblyScript. */
export const limitsModule = () => compileKernels('kernels/limits.ts', { relaxed: false })

/** Limits on the given clock (ms; default wall), from the compiled limits module (default: compiled here). */
export async function measureLimits(binary?: Uint8Array<ArrayBuffer>, clock?: () => number): Promise<Limits> {
  const streamBytes = 256 << 20
  const memory = new WebAssembly.Memory({ initial: streamBytes / 65536 + 16, maximum: streamBytes / 65536 + 16 })
  const module = await WebAssembly.compile(binary ?? (await limitsModule()))
  const instance = await WebAssembly.instantiate(module, { env: { memory } })
  const x = instance.exports as unknown as LimitExports
  const iters = 2_000_000
  const peakSeconds = await timeIt(() => x.peak_mul_add_f32(iters), clock)
  new Float32Array(memory.buffer, 1 << 20, streamBytes / 4).fill(1)
  const streamSeconds = await timeIt(() => x.stream_read_f32(1 << 20, streamBytes), clock)
  // a 32 MiB buffer (the size of the mid-sized matrices) may sit partly in the last-level cache
  const smallSeconds = await timeIt(() => x.stream_read_f32(1 << 20, 32 << 20), clock)
  return {
    peakGflops: (iters * 12 * 4 * 2) / peakSeconds / 1e9,
    streamGBs: streamBytes / streamSeconds / 1e9,
    stream32MiBGBs: (32 << 20) / smallSeconds / 1e9,
  }
}

// ---- onnxruntime-web: the same shapes as tiny ONNX graphs -------------------------------------

/** Minimal protobuf writer: varints, length-delimited fields. */
class Proto {
  private readonly parts: Uint8Array[] = []
  private varint(v: number): void {
    const bytes: number[] = []
    while (v >= 0x80) {
      bytes.push((v % 0x80) | 0x80)
      v = Math.floor(v / 0x80)
    }
    bytes.push(v)
    this.parts.push(Uint8Array.from(bytes))
  }
  int(field: number, v: number): this {
    this.varint(field * 8)
    this.varint(v)
    return this
  }
  bytes(field: number, b: Uint8Array): this {
    this.varint(field * 8 + 2)
    this.varint(b.length)
    this.parts.push(b)
    return this
  }
  str(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s))
  }
  msg(field: number, m: Proto): this {
    return this.bytes(field, m.finish())
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.parts.reduce((n, p) => n + p.length, 0))
    let o = 0
    for (const p of this.parts) {
      out.set(p, o)
      o += p.length
    }
    return out
  }
}
const ONNX = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6 }
const tensor = (name: string, type: number, dims: number[], raw: ArrayBufferView) => {
  const t = new Proto()
  for (const d of dims) t.int(1, d)
  return t.int(2, type).str(8, name).bytes(9, new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength))
}
const valueInfo = (name: string, type: number, dims: number[]) => {
  const shape = new Proto()
  for (const d of dims) shape.msg(1, new Proto().int(1, d))
  return new Proto().str(1, name).msg(2, new Proto().msg(1, new Proto().int(1, type).msg(2, shape)))
}
function onnxModel(op: string, domain: string, inputs: string[], attrs: Record<string, number>, initializers: Proto[],
  graphInputs: Proto[], output: Proto): Uint8Array {
  const node = new Proto()
  for (const i of inputs) node.str(1, i)
  node.str(2, 'Y').str(3, op).str(4, op)
  for (const [name, value] of Object.entries(attrs)) node.msg(5, new Proto().str(1, name).int(3, value).int(20, 2))
  if (domain) node.str(7, domain)
  const graph = new Proto().msg(1, node).str(2, 'bench')
  for (const t of initializers) graph.msg(5, t)
  for (const g of graphInputs) graph.msg(11, g)
  graph.msg(12, output)
  const model = new Proto().int(1, 8).msg(8, new Proto().str(1, '').int(2, 17))
  if (domain) model.msg(8, new Proto().str(1, domain).int(2, 1))
  return model.msg(7, graph).finish()
}

/** ORT graphs for one shape: fp32 MatMul, int8 MatMulInteger, int4 MatMulNBits (block 32). */
function ortModels(rows: number, cols: number): Record<'f32' | 'q8' | 'q4', { model: Uint8Array; feeds: Record<string, ort.Tensor> }> {
  const K = cols
  const N = rows
  return {
    f32: {
      model: onnxModel('MatMul', '', ['A', 'B'], {}, [tensor('B', ONNX.FLOAT, [K, N], randomF32(K * N, 5))],
        [valueInfo('A', ONNX.FLOAT, [1, K])], valueInfo('Y', ONNX.FLOAT, [1, N])),
      feeds: { A: new ort.Tensor('float32', randomF32(K, 6), [1, K]) },
    },
    q8: {
      model: onnxModel('MatMulInteger', '', ['A', 'B'], {}, [tensor('B', ONNX.INT8, [K, N], new Int8Array(randomBytes(K * N, 7).buffer))],
        [valueInfo('A', ONNX.UINT8, [1, K])], valueInfo('Y', ONNX.INT32, [1, N])),
      feeds: { A: new ort.Tensor('uint8', randomBytes(K, 8), [1, K]) },
    },
    q4: {
      model: onnxModel('MatMulNBits', 'com.microsoft', ['A', 'B', 'scales'], { K, N, bits: 4, block_size: GROUP },
        [tensor('B', ONNX.UINT8, [N, K / GROUP, GROUP / 2], randomBytes((N * K) / 2, 9)),
          tensor('scales', ONNX.FLOAT, [(N * K) / GROUP], randomF32((N * K) / GROUP, 10))],
        [valueInfo('A', ONNX.FLOAT, [1, K])], valueInfo('Y', ONNX.FLOAT, [1, N])),
      feeds: { A: new ort.Tensor('float32', randomF32(K, 11), [1, K]) },
    },
  }
}

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
}

export interface KernelBenchOptions {
  shapes?: Array<[string, number, number]>
  ort?: boolean
  /** Token counts for the T > 1 rows (blocked matmul), measured at gate/up 1600→5504. */
  prefillT?: number[]
  log?: (line: string) => void
}

/** Every shape × format at T = 1 (and the prefill Ts on one shape), beside ORT at T = 1. */
export async function benchKernels(limits: Limits, options: KernelBenchOptions = {}): Promise<{ backend: string; rows: KernelRow[] }> {
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
    const models = options.ort === false ? undefined : ortModels(outRows, cols)
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
        if (models && T === 1) {
          try {
            const { model, feeds } = models[src.format]
            const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'], graphOptimizationLevel: 'disabled' })
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
  const limits = await measureLimits()
  log(`wasm f32x4 mul+add peak ${limits.peakGflops.toFixed(1)} GFLOP/s; ` +
    `streaming read ${limits.streamGBs.toFixed(1)} GB/s (256 MiB), ${limits.stream32MiBGBs.toFixed(1)} GB/s (32 MiB)`)
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
