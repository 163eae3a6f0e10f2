// `npm run bench` (issue 3): everything in one run, one table, bench/results.json.
//  (a) machine limits: wasm f32x4 FMA peak and mul+add peak, streaming read bandwidth (scripts/limit-probe.ts,
//      in a relaxed-SIMD child, wall clock and CPU time);
//  (b) kernels at Hymba-1.5B shapes, f32/q8/q4, beside onnxruntime-web on the same shapes; plain SIMD
//      here, relaxed SIMD in a child `node --experimental-wasm-relaxed-simd --no-liftoff`;
//  (c) end to end in Node, one child process per model × quantisation (clean RSS): prefill and
//      decode tokens/s, TTFT with and without the meta prefix, memory, decode vs roofline;
//  (d) the same end-to-end numbers inside workerd (Miniflare, scripts/bench-worker.ts), and there the
//      kernels beside onnxruntime-web run inside workerd too (issue 3 measured its ORT baseline there).
// Flags: --quick (demo model only, fewer kernel shapes), --no-e2e (kernels only: no (c), and (d) without
// the models), --no-ort, --no-workerd, --no-relaxed,
// --reps N, --baseline DIR (also run (c) for the int4 bundles with the kernels-simd.wasm in DIR: before/after in one run).
// Owns: orchestration, the table, results.json. Must not import: worker/.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join, resolve } from 'node:path'
import type { Kernels } from '../src/backend.ts'
import { convertCheckpoint, DEFAULT_GROUP, groupOf, type ConvertOptions } from '../src/bundle/convert.ts'
import { parseManifest } from '../src/bundle/format.ts'
import { planTensors } from '../src/bundle/policy.ts'
import { parseConfig } from '../src/config.ts'
import { loadModel } from '../src/load.ts'
import { folderSink } from '../src/node/folder-sink.ts'
import { folderSource } from '../src/node/folder-source.ts'
import { createWasmKernels, createWasmKernelsFromModules } from '../wasm/loader.ts'
import { measureModel, type E2eResult } from './bench-e2e.ts'
import { LimitProbe, type MachineLimits } from './limit-probe.ts'
import type { OrtRow } from './ort-graphs.ts'

const ROOT = resolve(import.meta.dirname, '..')
const argv = process.argv.slice(2)
const flag = (name: string) => argv.includes(name)
const option = (name: string) => {
  const i = argv.indexOf(name)
  return i >= 0 ? argv[i + 1] : undefined
}
const PROMPT = 128
const DECODE = 32
/** Rounds of the workerd kernel and ORT timings, alternating, per shape: the median round of each side is kept. */
const KERNEL_ROUNDS = 3
const MiB = 1024 * 1024
/** The compiled limit probes (kernels/limits.ts, kernels/limits_relaxed.ts), written by (a) for the children and workerd. */
const LIMITS_WASM = join(ROOT, '.tmp/limits.wasm')
const LIMITS_RELAXED_WASM = join(ROOT, '.tmp/limits-relaxed.wasm')
/** v.toFixed(d), '–' for a value JSON turned into null (NaN) or one that is missing. */
const fixed = (v: number | null | undefined, d = 1) => (v === undefined || v === null || Number.isNaN(v) ? '–' : v.toFixed(d))

// ---- (c) one model in this process (the child mode) ------------------------------------------

interface NodeE2e extends E2eResult {
  backend: string
  loadMs: number
  wasmPeakBytes: number // allocator high-water mark: weights + states + scratch in wasm memory
  rssBytes: number // process RSS after the run
  heapUsedBytes: number // JS heap after a GC
  arrayBuffersBytes: number // ArrayBuffers outside wasm memory after a GC (Node counts wasm memory apart)
  loadPeakRssBytes?: number // process RSS growth from before loading to its peak: wasm pages touched + model files held (one at a time for bundles); Linux only
  limits: MachineLimits // the machine's limits probed in this process around the decode timing (scripts/limit-probe.ts), wall clock
  cpuLimits: MachineLimits // the same on process CPU time
  runtimeBytes: number // wasmPeakBytes + heapUsedBytes + arrayBuffersBytes: what an isolate holds at steady state
}

/** Process CPU time in ms (user + system): unlike the wall clock, not stretched by other processes. */
function cpuClock(): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e3
}

/** Probes of the machine's limits (scripts/limit-probe.ts) on the wall clock and on CPU time; needs relaxed SIMD. */
async function limitProbes(): Promise<{ wall: LimitProbe; cpu: LimitProbe }> {
  const [plain, fma] = await Promise.all([WebAssembly.compile(readFileSync(LIMITS_WASM)), WebAssembly.compile(readFileSync(LIMITS_RELAXED_WASM))])
  const wall = await LimitProbe.create(plain, fma, () => performance.now())
  return { wall, cpu: wall.on(cpuClock) }
}

/** Peak RSS since `resetPeakRss` (Linux: VmHWM of /proc/self/status), in bytes; undefined elsewhere. */
function peakRss(): number | undefined {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]
    return kb === undefined ? undefined : Number(kb) * 1024
  } catch {
    return undefined
  }
}

/** Resets the peak RSS (Linux: writing 5 to /proc/self/clear_refs); getrusage's maxRSS cannot be reset and survives exec. */
function resetPeakRss(): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5')
  } catch {
    // not Linux: peakRss() then reports the process's lifetime peak or nothing
  }
}

/**
 * Runs in a child started with relaxed SIMD enabled (for the FMA probe); the model itself runs on the
 * plain-SIMD build (relaxed: false), the Node configuration this row stands for.
 */
async function child(dir: string, modulesDir: string | undefined, reps: number): Promise<void> {
  const memoryBytes = 1536 * MiB // reserved, not touched: RSS counts only what is used
  const kernels: Kernels = modulesDir
    ? await createWasmKernelsFromModules({ simd: await WebAssembly.compile(readFileSync(join(modulesDir, 'kernels-simd.wasm'))) }, { memoryBytes, relaxed: false })
    : await createWasmKernels({ memoryBytes, relaxed: false })
  const { wall, cpu } = await limitProbes()
  const rssBeforeLoad = process.memoryUsage().rss
  resetPeakRss()
  const t0 = performance.now()
  const model = await loadModel(folderSource(dir), { kernels })
  const loadMs = performance.now() - t0
  const peak = peakRss()
  const loadPeakRssBytes = peak === undefined ? undefined : peak - rssBeforeLoad
  const allocator = (kernels as unknown as { allocator: { peakBytes: number } }).allocator
  wall.probe()
  cpu.probe()
  const result = measureModel(model, { promptTokens: PROMPT, decodeTokens: DECODE, repetitions: reps, peakBytes: () => allocator.peakBytes, cpuClock })
  wall.probe()
  cpu.probe()
  // V8 frees ArrayBuffer backing stores on a background sweeper after a GC: without the pause, the
  // model files (read whole at load) were still counted in some runs (7 vs 86 MiB for the same bundle)
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  await new Promise((resolve) => setTimeout(resolve, 300))
  gc?.()
  const mem = process.memoryUsage()
  const out: NodeE2e = { backend: kernels.name, loadMs, wasmPeakBytes: allocator.peakBytes, rssBytes: mem.rss, heapUsedBytes: mem.heapUsed,
    arrayBuffersBytes: mem.arrayBuffers, loadPeakRssBytes, runtimeBytes: allocator.peakBytes + mem.heapUsed + mem.arrayBuffers,
    limits: wall.limits, cpuLimits: cpu.limits, ...result }
  process.stdout.write(JSON.stringify(out) + '\n')
}

// the run's limits (scripts/limit-probe.ts), in a fresh process that has run nothing else, on the wall
// clock and on process CPU time (in the orchestrator, V8 keeps tiering up the AssemblyScript compiler's
// wasm on background threads, which CPU time counts), started with relaxed SIMD for the FMA peak
if (flag('--limits')) {
  // let V8's background compilation of what the imports loaded settle before timing
  await new Promise((resolve) => setTimeout(resolve, 2000))
  const { wall, cpu } = await limitProbes()
  wall.probe()
  cpu.probe()
  process.stdout.write(JSON.stringify({ wall: wall.limits, cpu: cpu.limits }) + '\n')
  process.exit(0)
}

if (flag('--child')) {
  await child(option('--child')!, option('--modules'), Number(option('--reps') ?? 5))
  process.exit(0)
}

// ---- the orchestrator --------------------------------------------------------------------------

const { limitsModule, limitsRelaxedModule, benchKernels, SHAPES } = await import('./bench-kernels.ts')
type KernelRow = Awaited<ReturnType<typeof benchKernels>>['rows'][number]
const quick = flag('--quick')
const reps = Number(option('--reps') ?? 5)
const log = (line = '') => console.log(line)
const started = performance.now()

const models = flag('--no-e2e') ? [] : [
  { name: 'hymba-brown-17m', src: '/work/shared/models/hymba-brown-17m', key: '17m' },
  ...(quick ? [] : [{ name: 'bench-140m (random)', src: join(ROOT, '.tmp/bench-140m'), key: '140m' }]),
]
/**
 * Bundles measured: the three quantisations at their default groups (64; int4 stores the embedding,
 * the tied lm_head, int4 too), int4 with groups of 32 (`--group 32`, the int4 default until session 6),
 * and int4 with the embedding int8 (`--embed int8`, src/bundle/policy.ts).
 */
const QUANTS = ['f32', 'int8', 'int4', 'int4-g32', 'int4-embed8'] as const
type QuantKey = (typeof QUANTS)[number]
const CONVERT: Record<Exclude<QuantKey, 'f32'>, Parameters<typeof convertCheckpoint>[2]> = {
  int8: { quant: 'int8' },
  int4: { quant: 'int4' },
  'int4-g32': { quant: 'int4', group: 32 },
  'int4-embed8': { quant: 'int4', embed: 'int8' },
}
/** The Workers isolate limit, and the wasm memory the bench gives the 140M int4 models in workerd: the limit less 8 MiB for JS. */
const ISOLATE_BYTES = 128e6
const WORKERD_INT4_MEMORY = Math.floor((ISOLATE_BYTES - 8 * MiB) / 65536) * 65536

/** The model folder for one quantisation: the HF checkpoint for f32, a bundle (converted once, cached in .tmp/bundles) otherwise. */
async function modelDir(m: (typeof models)[number], key: QuantKey): Promise<string> {
  if (m.key === '140m' && !existsSync(join(m.src, 'config.json'))) {
    log('writing the random bench-140m model (npm run make:bench-model)')
    execFileSync(process.execPath, ['--import', 'tsx', 'scripts/make-bench-model.ts'], { cwd: ROOT, stdio: 'inherit' })
  }
  if (key === 'f32') return m.src
  // named by what it holds, so a cached bundle of another default group is never reused
  const spec = CONVERT[key]
  const dir = join(ROOT, '.tmp/bundles', `${m.key}-${spec.quant}-g${groupOf(spec)}${spec.embed ? `-embed-${spec.embed}` : ''}`)
  if (!cachedBundleIsCurrent(dir, spec)) {
    rmSync(dir, { recursive: true, force: true })
    const t0 = performance.now()
    await convertCheckpoint(folderSource(m.src), await folderSink(dir), spec)
    log(`converted ${m.name} → ${key} bundle in ${((performance.now() - t0) / 1e3).toFixed(1)} s (cached in .tmp/bundles)`)
  }
  return dir
}

/** Whether a cached bundle stores every tensor as the converter would now (src/bundle/policy.ts may have changed since). */
function cachedBundleIsCurrent(dir: string, spec: ConvertOptions): boolean {
  if (!existsSync(join(dir, 'manifest.json'))) return false
  const { tensors } = parseManifest(readFileSync(join(dir, 'manifest.json')))
  const config = parseConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')))
  const names = new Set(tensors.map((t) => t.name))
  const plan = planTensors(config, (name) => names.has(name), spec.quant, groupOf(spec), spec.embed)
  const storage = (t: { name: string; format: string; group?: number }) => `${t.name} ${t.format} ${t.group ?? ''}`
  return plan.map(storage).join('\n') === tensors.map(storage).join('\n')
}

function runChild(dir: string, modulesDir?: string): NodeE2e {
  const args = ['--expose-gc', '--experimental-wasm-relaxed-simd', '--no-liftoff', '--import', 'tsx', 'scripts/bench.ts', '--child', dir, '--reps', String(reps)]
  if (modulesDir) args.push('--modules', modulesDir)
  const out = execFileSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 24 })
  return JSON.parse(out.trim().split('\n').pop()!)
}

// (a) limits: the probe modules, written for the children and workerd, and the run's limits
mkdirSync(join(ROOT, '.tmp'), { recursive: true })
writeFileSync(LIMITS_WASM, await limitsModule())
writeFileSync(LIMITS_RELAXED_WASM, await limitsRelaxedModule())
const limits = JSON.parse(execFileSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--no-liftoff', '--import', 'tsx', 'scripts/bench.ts', '--limits'], { cwd: ROOT, encoding: 'utf8' })
  .trim().split('\n').pop()!) as { wall: MachineLimits; cpu: MachineLimits }
const limitsText = (l: MachineLimits) => `wasm f32x4 FMA peak ${fixed(l.fmaGflops)} GFLOP/s (mul+add ${fixed(l.mulAddGflops)}); streaming read ${fixed(l.streamGBs)} GB/s (256 MiB; one sequential stream ${fixed(l.sequentialGBs)}), ${fixed(l.stream32MiBGBs)} GB/s (32 MiB)`
log(`machine: ${os.cpus()[0]?.model}, ${os.cpus().length} cores, Node ${process.version}`)
log(`(a) limits, one core: ${limitsText(limits.wall)}; on CPU time: ${limitsText(limits.cpu)}`)

// (b) kernels
log('(b) kernels, plain SIMD (Node), weights + scales streamed per call; ORT = onnxruntime-web wasm, 1 thread')
const kernelShapes = quick ? SHAPES.slice(3, 4) : SHAPES
const plain = await benchKernels(limits.wall, { shapes: kernelShapes, ort: !flag('--no-ort'), prefillT: [128] })
let relaxed: { backend: string; rows: Awaited<ReturnType<typeof benchKernels>>['rows'] } | undefined
if (!flag('--no-relaxed')) {
  log('(b) kernels, relaxed SIMD (node --experimental-wasm-relaxed-simd --no-liftoff)')
  const script = `const { benchKernels, SHAPES } = await import(${JSON.stringify(join(ROOT, 'scripts/bench-kernels.ts'))});` +
    `const r = await benchKernels(${JSON.stringify(limits.wall)}, { shapes: ${quick ? 'SHAPES.slice(3, 4)' : 'SHAPES'}, ort: false, prefillT: [128], log: (l) => console.error(l) });` +
    'console.log(JSON.stringify(r))'
  const out = execFileSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--no-liftoff', '--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 })
  relaxed = JSON.parse(out.trim().split('\n').pop()!)
}

// (c) end to end in Node
interface E2eRow extends Partial<NodeE2e> {
  model: string
  quant: string
  runtime: 'node' | 'node-baseline' | 'workerd'
  error?: string
}
const e2e: E2eRow[] = []
const baseline = option('--baseline')
log(`(c) end to end in Node: prompt ${PROMPT} tokens, ${DECODE} decode tokens, median of ${reps}`)
for (const m of models) {
  for (const quant of QUANTS) {
    const dir = await modelDir(m, quant)
    const runs: Array<[E2eRow['runtime'], string | undefined]> = [['node', undefined]]
    // the baseline (older kernels-simd.wasm) only where it differs: the plain q4 kernel (int4 bundles)
    if (baseline && quant.startsWith('int4')) runs.unshift(['node-baseline', resolve(baseline)])
    for (const [runtime, modulesDir] of runs) {
      try {
        const r = runChild(dir, modulesDir)
        e2e.push({ model: m.name, quant, runtime, ...r })
        log(`  ${runtime.padEnd(13)} ${m.name.padEnd(20)} ${quant.padEnd(15)} prefill ${r.prefillTokensPerS.toFixed(1)} tok/s, decode ${r.decodeTokensPerS.toFixed(1)} tok/s, ` +
          `TTFT ${fixed(r.ttftMetaPrefixMs, 0)} / ${fixed(r.ttftFromScratchMs, 0)} ms, wasm peak ${fixed(r.shippedPeakBytes! / MiB)} MiB ` +
          `(${fixed(r.wasmPeakBytes / MiB)} with the from-scratch TTFT), JS heap ${fixed(r.heapUsedBytes / MiB)} MiB`)
      } catch (e) {
        e2e.push({ model: m.name, quant, runtime, error: String(e) })
        log(`  ${runtime} ${m.name} ${quant}: ${String(e).split('\n')[0]}`)
      }
    }
  }
}

// (d) inside workerd
let workerdVersion: string | undefined
let workerdKernels: KernelRow[] | undefined
let ortWorkerd: OrtRow[] | undefined
if (!flag('--no-workerd')) {
  log('(d) inside workerd (Miniflare), relaxed SIMD where available: the kernels beside ORT shape by shape, then end to end')
  const { build } = await import('esbuild')
  const outDir = join(ROOT, '.tmp/bench-worker')
  mkdirSync(outDir, { recursive: true })
  // ORT's glue (scripts/ort-wasm-factory.ts) is a second entry: ORT imports it dynamically. The
  // extern-wasm build of ORT leaves its own copy of the glue out; 'module' and 'worker_threads' are
  // imported only on the glue's Node paths.
  await build({ entryPoints: [join(ROOT, 'scripts/bench-worker.ts'), join(ROOT, 'scripts/ort-wasm-factory.ts')], bundle: true, format: 'esm',
    platform: 'neutral', target: 'es2023', outdir: outDir, external: ['*.wasm', 'module', 'worker_threads'],
    conditions: ['onnxruntime-web-use-extern-wasm'], logLevel: 'warning' })
  const withOrt = !flag('--no-ort')
  const { Miniflare } = await import('miniflare')
  workerdVersion = JSON.parse(readFileSync(join(ROOT, 'node_modules/workerd/package.json'), 'utf8')).version
  const serve = (request: Request): Response => {
    const path = decodeURIComponent(new URL(request.url).pathname)
    if (!existsSync(path) || !statSync(path).isFile()) return new Response('not found', { status: 404 })
    return new Response(request.method === 'HEAD' ? null : readFileSync(path))
  }
  const mf = new Miniflare({
    modules: [
      { type: 'ESModule', path: join(outDir, 'bench-worker.js'), contents: readFileSync(join(outDir, 'bench-worker.js'), 'utf8') },
      { type: 'CompiledWasm', path: join(outDir, 'kernels-simd.wasm'), contents: readFileSync(join(ROOT, 'wasm/kernels-simd.wasm')) },
      { type: 'CompiledWasm', path: join(outDir, 'kernels-relaxed.wasm'), contents: readFileSync(join(ROOT, 'wasm/kernels-relaxed.wasm')) },
      { type: 'CompiledWasm', path: join(outDir, 'limits.wasm'), contents: readFileSync(LIMITS_WASM) },
      { type: 'CompiledWasm', path: join(outDir, 'limits-relaxed.wasm'), contents: readFileSync(LIMITS_RELAXED_WASM) },
      // the plain build of ORT's wasm, the one onnxruntime-web runs in Node too, precompiled by workerd
      ...(withOrt ? [
        { type: 'ESModule' as const, path: join(outDir, 'ort-wasm-factory.js'), contents: readFileSync(join(outDir, 'ort-wasm-factory.js'), 'utf8') },
        { type: 'CompiledWasm' as const, path: join(outDir, 'ort-wasm-simd-threaded.wasm'), contents: readFileSync(join(ROOT, 'node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm')) },
      ] : []),
    ],
    modulesRoot: outDir,
    compatibilityDate: '2026-04-01',
    serviceBindings: { FILES: serve },
  })
  try {
    // the kernels in the runtime that serves them (workerd compiles the relaxed dot to vpdpbusd on
    // AVX-VNNI), and ORT in the same runtime: shape by shape, ours and ORT's alternately for
    // KERNEL_ROUNDS rounds, each side's median round kept, so a ratio compares the two under the same
    // load (a single pair, seconds apart, moved the int8 ratio by about 1.5× between runs)
    const fetchRows = async <Row>(path: string, shape: [string, number, number]): Promise<Row[] | { error: string }> =>
      (await mf.dispatchFetch(`http://bench/${path}?shapes=${encodeURIComponent(JSON.stringify([shape]))}`)).json() as Promise<Row[] | { error: string }>
    const medianRow = <Row extends { ms?: number; gflops?: number }>(rounds: Row[]): Row => {
      const ok = rounds.filter((r) => r.ms !== undefined).sort((a, b) => a.ms! - b.ms!)
      return ok.length ? ok[(ok.length - 1) >> 1] : rounds[0]
    }
    for (const shape of kernelShapes) {
      const ours: KernelRow[][] = []
      const theirs: OrtRow[][] = []
      let failed = false
      for (let round = 0; round < KERNEL_ROUNDS; round++) {
        const kr = await fetchRows<KernelRow>('kernels', shape)
        if ('error' in kr) {
          log(`  workerd kernels ${shape[0]}: ${kr.error.split('\n')[0]}`)
          failed = true
          break
        }
        ours.push(kr)
        if (!withOrt) continue
        const or = await fetchRows<OrtRow>('ort', shape)
        if ('error' in or) {
          log(`  workerd ORT ${shape[0]}: ${or.error.split('\n')[0]}`)
          break
        }
        theirs.push(or)
      }
      if (failed) continue
      const kr = ours[0].map((r, i) => ({ ...medianRow(ours.map((round) => round[i])), roundGflops: ours.map((round) => round[i].gflops) }))
      workerdKernels = [...(workerdKernels ?? []), ...kr]
      for (const r of kr) log(`  workerd kernel ${r.shape.padEnd(20)} ${r.format} ${r.ms.toFixed(3).padStart(8)} ms ${r.gflops.toFixed(1).padStart(6)} GFLOP/s ${r.gbs.toFixed(1).padStart(6)} GB/s (median of ${ours.length} rounds)`)
      if (!theirs.length) continue
      const or = theirs[0].map((r, i) => ({ ...medianRow(theirs.map((round) => round[i])), roundGflops: theirs.map((round) => round[i].gflops) }))
      ortWorkerd = [...(ortWorkerd ?? []), ...or]
      for (const r of or) {
        const mine = kr.find((x) => x.format === r.format)
        const perRound = mine ? ours.map((round, i) => {
          const a = round.find((x) => x.format === r.format)
          const b = theirs[i]?.find((x) => x.format === r.format)
          return a && b?.gflops ? (a.gflops / b.gflops).toFixed(1) : undefined
        }).filter((x) => x !== undefined) : []
        log(`  workerd ORT    ${r.shape.padEnd(20)} ${r.format} ` + (r.error ? `error: ${r.error}` : `${r.ms!.toFixed(3).padStart(8)} ms ${r.gflops!.toFixed(1).padStart(6)} GFLOP/s` +
          (mine ? `  ×${(mine.gflops / r.gflops!).toFixed(1)} (workerd kernel vs workerd ORT; rounds ${perRound.join(', ')})` : '')))
      }
    }
    // one request per model: its bundles' runs interleaved (scripts/bench-e2e.ts measureModels), so a
    // slow phase of the shared VM falls on all of them alike; the limits are probed around them all
    for (const m of models) {
      const dirs: string[] = []
      for (const quant of QUANTS) dirs.push(await modelDir(m, quant))
      // wasm memory: the 140M int4 models get the isolate budget less 8 MiB for JS (WORKERD_INT4_MEMORY)
      const memories = QUANTS.map((quant) => m.key === '140m' ? (quant === 'f32' ? 768 * MiB : quant === 'int8' ? 256 * MiB : WORKERD_INT4_MEMORY) : 128 * MiB)
      const url = `http://bench/run?dirs=${encodeURIComponent(JSON.stringify(dirs))}&memories=${encodeURIComponent(JSON.stringify(memories))}&prompt=${PROMPT}&decode=${DECODE}&reps=${reps}`
      const answer = (await (await mf.dispatchFetch(url)).json()) as Array<E2eRow & { memoryBytes: number }> | { error: string }
      if ('error' in answer) {
        for (const quant of QUANTS) e2e.push({ model: m.name, quant, runtime: 'workerd', error: answer.error })
        log(`  workerd ${m.name}: ${answer.error.split('\n')[0]}`)
        continue
      }
      answer.forEach((r, i) => {
        const quant = QUANTS[i]
        if (r.error) {
          e2e.push({ model: m.name, quant, runtime: 'workerd', error: r.error })
          log(`  workerd ${m.name} ${quant} (${(memories[i] / MiB).toFixed(0)} MiB of wasm memory): ${r.error.split('\n')[0]}`)
          return
        }
        e2e.push({ ...r, model: m.name, quant, runtime: 'workerd' })
        log(`  workerd       ${m.name.padEnd(20)} ${quant.padEnd(15)} prefill ${fixed(r.prefillTokensPerS)} tok/s, decode ${fixed(r.decodeTokensPerS)} tok/s, ` +
          `TTFT ${fixed(r.ttftMetaPrefixMs, 0)} / ${fixed(r.ttftFromScratchMs, 0)} ms, wasm peak ${fixed(r.shippedPeakBytes! / MiB)} of ${fixed(r.memoryBytes / MiB, 0)} MiB (${r.backend})` +
          (r.fromScratchError ? `; from-scratch TTFT: ${r.fromScratchError}` : ''))
      })
    }
  } finally {
    await mf.dispose()
  }
}

// ---- roofline, targets, table ------------------------------------------------------------------

/**
 * A row's decode roofline: max(FLOPs / FMA peak, bytes / 256 MiB stream rate), with the limits probed in
 * the row's own process around its decode timing (scripts/limit-probe.ts). Node rows also on process
 * CPU time (decode and limits both): time slices taken by other processes then stretch neither side.
 * percent: the median run against it; bestPercent: the fastest run, the same statistic as the limits
 * (each the best the probe saw), so that a phase of the shared VM that slows some runs but not the
 * probes does not count as the code's (docs/benchmarks.md, session 6).
 */
const roofline = (r: E2eRow) => {
  if (!r.counts || !r.decodeMsPerToken || !r.decodeBestMsPerToken || !r.limits) return undefined
  const at = (l: MachineLimits) => {
    const computeMs = (r.counts!.flops / ((l.fmaGflops ?? l.mulAddGflops) * 1e9)) * 1e3
    const memoryMs = (r.counts!.bytes / (l.streamGBs * 1e9)) * 1e3
    return { computeMs, memoryMs, minMs: Math.max(computeMs, memoryMs) }
  }
  const wall = at(r.limits)
  const cpu = r.cpuLimits ? at(r.cpuLimits) : undefined
  const cpuPercent = cpu && r.decodeCpuMsPerToken ? (100 * cpu.minMs) / r.decodeCpuMsPerToken : undefined
  const cpuBestPercent = cpu && r.decodeCpuBestMsPerToken ? (100 * cpu.minMs) / r.decodeCpuBestMsPerToken : undefined
  return { ...wall, bound: wall.computeMs > wall.memoryMs ? 'compute' : 'memory', percent: (100 * wall.minMs) / r.decodeMsPerToken,
    bestPercent: (100 * wall.minMs) / r.decodeBestMsPerToken, cpuMinMs: cpu?.minMs, cpuPercent, cpuBestPercent }
}
const rooflines = e2e.map((r) => ({ ...r, roofline: roofline(r) }))

const minOf = (xs: number[]) => (xs.length ? Math.min(...xs) : NaN)
const maxOf = (xs: number[]) => (xs.length ? Math.max(...xs) : NaN)
const num = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v)
/** ORT's GFLOP/s at a shape and precision (measured in the plain pass, same run). */
const ortAt = (r: KernelRow) => plain.rows.find((x) => x.shape === r.shape && x.format === r.format && x.T === r.T)?.ortGflops
const kernelSets: Array<[string, KernelRow[] | undefined]> = [['plain', plain.rows], ['relaxed (Node)', relaxed?.rows], ['relaxed (workerd)', workerdKernels]]
const vsOrt = (format: string) => Object.fromEntries(kernelSets.filter(([, rows]) => rows).map(([name, rows]) => {
  const xs = rows!.filter((r) => r.format === format && r.T === 1).map((r) => { const o = ortAt(r); return o ? r.gflops / o : undefined }).filter(num)
  return [name, { min: minOf(xs), max: maxOf(xs) }]
}))
/** ORT's GFLOP/s inside workerd at a shape and precision (M = 1, same run, timed beside the workerd kernels). */
const ortWorkerdAt = (r: { shape: string; format: string }) => ortWorkerd?.find((x) => x.shape === r.shape && x.format === r.format)?.gflops
/** The workerd kernels over ORT in workerd at T = 1: the setup issue 3 measured its ORT baseline in. */
const workerdVsOrtWorkerd = (format: string) => {
  const xs = (workerdKernels ?? []).filter((r) => r.format === format && r.T === 1).map((r) => { const o = ortWorkerdAt(r); return o ? r.gflops / o : undefined }).filter(num)
  return { min: minOf(xs), max: maxOf(xs) }
}
const q8Stream = Object.fromEntries(kernelSets.filter(([, rows]) => rows).map(([name, rows]) =>
  [name, minOf(rows!.filter((r) => r.format === 'q8' && r.T === 1).map((r) => (100 * r.gbs) / limits.wall.streamGBs))]))
// The most any q8 kernel could do at the measured bandwidth (weights + scales, group 64: 1.0625
// bytes per 2 FLOPs; 32 MiB stream, the better of the two), as a multiple of ORT: where it is < 5 the
// 5× target is out of reach of any kernel at that shape on this machine in this run.
const q8CeilingGflops = (limits.wall.stream32MiBGBs * 2) / (1 + 4 / DEFAULT_GROUP.int8)
const q8CeilingVsOrt = plain.rows.filter((r) => r.format === 'q8' && r.T === 1 && r.ortGflops).map((r) => ({ shape: r.shape, ortGflops: r.ortGflops!, ceiling: q8CeilingGflops / r.ortGflops! }))
const q8CeilingVsOrtWorkerd = (ortWorkerd ?? []).filter((r) => r.format === 'q8' && r.gflops).map((r) => ({ shape: r.shape, ortGflops: r.gflops!, ceiling: q8CeilingGflops / r.gflops! }))
const int4Rows = rooflines.filter((r) => r.quant.startsWith('int4') && r.roofline && r.runtime !== 'node-baseline')
const fitRows = rooflines.filter((r) => r.model.startsWith('bench-140m') && r.quant.startsWith('int4') && r.runtime === 'node' && !r.error).map((r) => {
  const shipped = r.shippedPeakBytes! + r.heapUsedBytes! + r.arrayBuffersBytes!
  const withScratch = r.wasmPeakBytes! + r.heapUsedBytes! + r.arrayBuffersBytes!
  const w = rooflines.find((x) => x.runtime === 'workerd' && x.model === r.model && x.quant === r.quant)
  return {
    quant: r.quant,
    weightsMiB: r.counts!.weightBytes / MiB,
    wasmPeakMiB: r.shippedPeakBytes! / MiB, // load + new session + prefill 128 + decode 32
    jsMiB: (r.heapUsedBytes! + r.arrayBuffersBytes!) / MiB,
    totalBytes: shipped,
    fits: shipped <= ISOLATE_BYTES,
    withFromScratchBytes: withScratch,
    fitsWithFromScratch: withScratch <= ISOLATE_BYTES,
    loadPeakRssBytes: r.loadPeakRssBytes,
    workerd: w ? (w.error ? `failed in ${(WORKERD_INT4_MEMORY / MiB).toFixed(0)} MiB: ${w.error.split('\n')[0].slice(0, 100)}` : `ran in ${(WORKERD_INT4_MEMORY / MiB).toFixed(0)} MiB of wasm memory (peak ${(w.shippedPeakBytes! / MiB).toFixed(1)} MiB)${w.fromScratchError ? '; from-scratch TTFT out of memory' : ''}`) : undefined,
  }
})
const targets = {
  q8StreamPercentMin: { ...q8Stream, target: 80 },
  // the kernel sets over ORT in Node; workerdVsOrtWorkerd: the workerd kernels over ORT in workerd
  q8VsOrt: { ...vsOrt('q8'), target: 5, ceilingAtStream: q8CeilingVsOrt, workerdVsOrtWorkerd: workerdVsOrtWorkerd('q8'), ceilingAtStreamVsOrtWorkerd: q8CeilingVsOrtWorkerd },
  q4VsOrt: { ...vsOrt('q4'), target: 20, workerdVsOrtWorkerd: workerdVsOrtWorkerd('q4') },
  decodeRooflinePercent: Object.fromEntries(rooflines.filter((r) => r.roofline).map((r) => [`${r.runtime} ${r.model} ${r.quant}`, r.roofline!.percent])),
  decodeRooflinePercentBest: Object.fromEntries(rooflines.filter((r) => r.roofline).map((r) => [`${r.runtime} ${r.model} ${r.quant}`, r.roofline!.bestPercent])),
  int4_140mFits128MB: fitRows,
}

// relaxed ratios vs ORT use the ORT times measured in the plain pass (same shapes, same run)
const relaxedVsOrt = relaxed?.rows.map((r) => {
  const o = ortAt(r)
  return o ? r.gflops / o : undefined
})

log()
log('## Kernels (GFLOP/s; GB/s of weights + scales; × = speed-up over onnxruntime-web at the same shape and precision, run in Node or in workerd)')
log('| shape | fmt | T | plain ms | plain GFLOP/s | plain GB/s | relaxed GFLOP/s | relaxed GB/s | workerd GFLOP/s | ORT Node GFLOP/s | ORT workerd GFLOP/s | × ORT (plain) | × ORT (relaxed) | × ORT (workerd vs Node) | × ORT (workerd vs workerd) |')
log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
plain.rows.forEach((r) => {
  const i = relaxed?.rows.findIndex((x) => x.shape === r.shape && x.format === r.format && x.T === r.T) ?? -1
  const x = i >= 0 ? relaxed!.rows[i] : undefined
  const wk = r.T === 1 ? workerdKernels?.find((y) => y.shape === r.shape && y.format === r.format) : undefined
  const ow = r.T === 1 ? ortWorkerdAt(r) : undefined
  const f = (v: number | undefined, d = 1) => (v === undefined ? '' : fixed(v, d))
  log(`| ${r.shape} | ${r.format} | ${r.T} | ${f(r.ms, 3)} | ${f(r.gflops)} | ${f(r.gbs)} | ${f(x?.gflops)} | ${f(x?.gbs)} | ${f(wk?.gflops)} | ${f(r.ortGflops)} | ${f(ow)} | ${f(r.ortGflops ? r.gflops / r.ortGflops : undefined)} | ` +
    `${f(i >= 0 ? relaxedVsOrt![i] : undefined)} | ${f(wk && r.ortGflops ? wk.gflops / r.ortGflops : undefined)} | ${f(wk && ow ? wk.gflops / ow : undefined)} |`)
})
log()
// the models' rows (none under --no-e2e)
if (rooflines.length) {
  log(`## End to end (prompt ${PROMPT}, ${DECODE} decode tokens, median of ${reps} runs and the fastest; roofline = max(FLOPs / wasm FMA peak, bytes / 256 MiB stream rate), both probed in the row's own process around its decode timing)`)
  log('wasm peak: load + new session + prefill + decode (the shipped, meta-prefix path); "+ scratch": also the from-scratch TTFT (M + P tokens at once); JS: heap + ArrayBuffers after a GC (Node)')
  log('% roofline: the median run / the fastest run against the roofline; (CPU): Node only, decode and limits both timed in process CPU time')
  log('| runtime | model | quant | prefill tok/s | decode tok/s | TTFT meta prefix ms | TTFT from scratch ms | decode ms (median / fastest) | row limits: FMA GFLOP/s, GB/s | roofline ms | % roofline (median / fastest) | % roofline (CPU) | weights MiB | state MiB | wasm peak MiB | + scratch MiB | JS MiB |')
  log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
  for (const r of rooflines) {
    if (r.error) {
      log(`| ${r.runtime} | ${r.model} | ${r.quant} | error: ${r.error.split('\n')[0].slice(0, 80)} |`)
      continue
    }
    const f = fixed
    log(`| ${r.runtime}${r.backend ? ` (${r.backend})` : ''} | ${r.model} | ${r.quant} | ${f(r.prefillTokensPerS)} | ${f(r.decodeTokensPerS)} | ${f(r.ttftMetaPrefixMs, 0)} | ${r.fromScratchError ? 'out of memory' : f(r.ttftFromScratchMs, 0)} | ` +
      `${f(r.decodeMsPerToken, 2)} / ${f(r.decodeBestMsPerToken, 2)} | ${r.limits ? `${f(r.limits.fmaGflops)}, ${f(r.limits.streamGBs)}` : ''} | ${f(r.roofline?.minMs, 2)} (${r.roofline?.bound}) | ${f(r.roofline?.percent, 0)} / ${f(r.roofline?.bestPercent, 0)} | ${r.roofline?.cpuPercent === undefined ? '–' : `${f(r.roofline.cpuPercent, 0)} / ${f(r.roofline.cpuBestPercent, 0)}`} | ${f(r.counts!.weightBytes / MiB)} | ${f(r.stateBytes! / MiB, 2)} | ${f((r.shippedPeakBytes ?? NaN) / MiB)} | ${f(r.wasmPeakBytes! / MiB)} | ${f(r.heapUsedBytes !== undefined ? (r.heapUsedBytes + r.arrayBuffersBytes!) / MiB : undefined)} |`)
  }
  log()
}
log('## Targets (issue 3)')
const yes = (ok: boolean) => (ok ? 'met' : '**missed**')
const fx = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '–')
/** v to 1 decimal, or 2 where 1 would round a miss of the target up to it (4.96 → "4.96", not "5.0"). */
const fxAgainst = (v: number, target: number) => fx(v, v < target && Number(fx(v)) >= target ? 2 : 1)
const rangeText = (o: Record<string, unknown>, target: number) => kernelSets.filter(([name]) => o[name] && Number.isFinite((o[name] as { min: number }).min)).map(([name]) => {
  const v = o[name] as { min: number; max: number }
  return `${name} ${fxAgainst(v.min, target)}–${fx(v.max)}×`
}).join('; ') || 'not measured (--no-ort)'
const bestMin = (o: Record<string, unknown>) => maxOf(kernelSets.filter(([name]) => o[name]).map(([name]) => (o[name] as { min: number }).min).filter(num))
log('| target | result | status |')
log('|---|---|---|')
log(`| int8 matvec ≥ 80 % of streaming bandwidth (${limits.wall.streamGBs.toFixed(1)} GB/s) | min over shapes: ${kernelSets.filter(([n]) => num(q8Stream[n])).map(([n]) => `${n} ${fx(q8Stream[n], 0)} %`).join('; ')} | ${yes(maxOf(Object.values(q8Stream).filter(num)) >= 80)} |`)
const ceilingText = (cs: typeof q8CeilingVsOrt) => !cs.length ? '' : `ORT int8 ${fx(minOf(cs.map((c) => c.ortGflops)))}–${fx(maxOf(cs.map((c) => c.ortGflops)))} GFLOP/s; ` +
  `a q8 kernel at the 32 MiB stream rate (${fx(q8CeilingGflops)} GFLOP/s) would be ${fx(minOf(cs.map((c) => c.ceiling)))}–${fx(maxOf(cs.map((c) => c.ceiling)))}×`
const ceilingNote = (cs: typeof q8CeilingVsOrt) => (minOf(cs.map((c) => c.ceiling)) < 5 ? ' (out of reach at the bandwidth limit on some shapes)' : '')
/** The workerd-vs-workerd row of a target: the workerd kernels' range over ORT in workerd, judged on its minimum. */
const workerdTarget = (v: { min: number; max: number }, target: number, detail = '') => Number.isFinite(v.min)
  ? `relaxed (workerd) ${fxAgainst(v.min, target)}–${fx(v.max)}×${detail} | ${yes(v.min >= target)}`
  : `not measured (${flag('--no-workerd') ? '--no-workerd' : '--no-ort'}, or ORT failed in workerd) | –`
/** Status of a "≥ n× ORT" row: not judged where ORT was not measured. */
const vsOrtStatus = (o: Record<string, unknown>, target: number) => (Number.isFinite(bestMin(o)) ? yes(bestMin(o) >= target) : '–')
log(`| int8 ≥ 5× ORT-web int8, ORT in Node | ${rangeText(targets.q8VsOrt, 5)}. ${ceilingText(q8CeilingVsOrt)} | ${vsOrtStatus(targets.q8VsOrt, 5)}${ceilingNote(q8CeilingVsOrt)} |`)
log(`| int8 ≥ 5× ORT-web int8, workerd vs ORT in workerd (issue 3's setup) | ${workerdTarget(targets.q8VsOrt.workerdVsOrtWorkerd, 5, `. ${ceilingText(q8CeilingVsOrtWorkerd)}`)}${ceilingNote(q8CeilingVsOrtWorkerd)} |`)
log(`| int4 ≥ 20× ORT-web int4, ORT in Node | ${rangeText(targets.q4VsOrt, 20)} | ${vsOrtStatus(targets.q4VsOrt, 20)} |`)
log(`| int4 ≥ 20× ORT-web int4, workerd vs ORT in workerd (issue 3's setup) | ${workerdTarget(targets.q4VsOrt.workerdVsOrtWorkerd, 20)} |`)
for (const fmt of ['f32', 'int8', 'int4'] as const) {
  const rows = fmt === 'int4' ? int4Rows : rooflines.filter((r) => r.quant === fmt && r.roofline && r.runtime !== 'node-baseline')
  if (!rows.length) continue
  // Node rows count on CPU time (both sides of the ratio), workerd rows on the wall clock; each on its
  // fastest run (the limits are the probes' best too), the median run beside it
  const pct = (r: (typeof rows)[number]) => r.roofline!.cpuBestPercent ?? r.roofline!.bestPercent
  const median = (r: (typeof rows)[number]) => r.roofline!.cpuPercent ?? r.roofline!.percent
  const low = minOf(rows.map(pct))
  log(`| decode ≥ 70 % of roofline (FMA peak), ${fmt}: fastest run (median run) | ${rows.map((r) => `${r.runtime === 'workerd' ? 'workerd' : r.runtime === 'node' ? 'Node (CPU time)' : r.runtime} ${r.model.split(' ')[0]}${fmt === 'int4' ? ` ${r.quant}` : ''} ${fx(pct(r), 0)} % (${fx(median(r), 0)} %)`).join('; ')} | ${low >= 70 ? 'met' : rows.some((r) => pct(r) >= 70) ? 'partly' : '**missed**'} |`)
}
for (const t of fitRows) {
  log(`| int4 140M fits 128 MB (${t.quant}) | weights ${fx(t.weightsMiB)} MiB; wasm peak ${fx(t.wasmPeakMiB)} MiB + JS ${fx(t.jsMiB)} MiB = ${fx(t.totalBytes / 1e6)} MB` +
    `${t.fitsWithFromScratch ? '' : `; ${fx(t.withFromScratchBytes / 1e6)} MB with the from-scratch TTFT`}; load peak (RSS growth) ${t.loadPeakRssBytes === undefined ? 'not measured' : `${fx(t.loadPeakRssBytes / 1e6)} MB`}${t.workerd ? `; workerd: ${t.workerd}` : ''} | ${t.quant === 'int4' ? yes(t.fits) : `option: ${t.fits ? 'fits' : 'does not fit'}`} |`)
}
log()

const result = {
  date: new Date().toISOString(),
  command: `npm run bench${argv.length ? ' -- ' + argv.join(' ') : ''}`,
  machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, workerd: workerdVersion, loadAverage: os.loadavg() },
  settings: { promptTokens: PROMPT, decodeTokens: DECODE, repetitions: reps, kernelGroups: { q8: DEFAULT_GROUP.int8, q4: DEFAULT_GROUP.int4 } },
  limits,
  kernels: { plain, relaxed, workerd: workerdKernels, ortWorkerd },
  e2e: rooflines,
  targets,
  seconds: (performance.now() - started) / 1e3,
}
mkdirSync(join(ROOT, 'bench'), { recursive: true })
writeFileSync(join(ROOT, 'bench/results.json'), JSON.stringify(result, null, 2) + '\n')
log(`wrote bench/results.json (${result.seconds.toFixed(0)} s)`)
