// `npm run bench` (issue 3): everything in one run, one table, bench/results.json.
//  (a) machine limits: wasm f32x4 mul+add peak, streaming read bandwidth (scripts/bench-kernels.ts);
//  (b) kernels at Hymba-1.5B shapes, f32/q8/q4, beside onnxruntime-web on the same shapes; plain SIMD
//      here, relaxed SIMD in a child `node --experimental-wasm-relaxed-simd --no-liftoff`;
//  (c) end to end in Node, one child process per model × quantisation (clean RSS): prefill and
//      decode tokens/s, TTFT with and without the meta prefix, memory, decode vs roofline;
//  (d) the same end-to-end numbers inside workerd (Miniflare, scripts/bench-worker.ts).
// Flags: --quick (demo model only, fewer kernel shapes), --no-ort, --no-workerd, --no-relaxed,
// --reps N, --baseline DIR (also run (c) with the kernels-simd.wasm in DIR: before/after in one run).
// Owns: orchestration, the table, results.json. Must not import: worker/.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join, resolve } from 'node:path'
import type { Kernels } from '../src/backend.ts'
import { convertCheckpoint } from '../src/bundle/convert.ts'
import { loadModel } from '../src/load.ts'
import { folderSink } from '../src/node/folder-sink.ts'
import { folderSource } from '../src/node/folder-source.ts'
import { createWasmKernels, createWasmKernelsFromModules } from '../wasm/loader.ts'
import { measureModel, type E2eResult } from './bench-e2e.ts'

const ROOT = resolve(import.meta.dirname, '..')
const argv = process.argv.slice(2)
const flag = (name: string) => argv.includes(name)
const option = (name: string) => {
  const i = argv.indexOf(name)
  return i >= 0 ? argv[i + 1] : undefined
}
const PROMPT = 128
const DECODE = 32
const MiB = 1024 * 1024

// ---- (c) one model in this process (the child mode) ------------------------------------------

interface NodeE2e extends E2eResult {
  backend: string
  loadMs: number
  wasmPeakBytes: number // allocator high-water mark: weights + states + scratch in wasm memory
  rssBytes: number // process RSS after the run
  heapUsedBytes: number // JS heap after a GC
}

async function child(dir: string, modulesDir: string | undefined, reps: number): Promise<void> {
  const memoryBytes = 1536 * MiB // reserved, not touched: RSS counts only what is used
  const kernels: Kernels = modulesDir
    ? await createWasmKernelsFromModules({ simd: await WebAssembly.compile(readFileSync(join(modulesDir, 'kernels-simd.wasm'))) }, { memoryBytes, relaxed: false })
    : await createWasmKernels({ memoryBytes })
  const t0 = performance.now()
  const model = await loadModel(folderSource(dir), { kernels })
  const loadMs = performance.now() - t0
  const result = measureModel(model, { promptTokens: PROMPT, decodeTokens: DECODE, repetitions: reps })
  ;(globalThis as { gc?: () => void }).gc?.()
  const allocator = (kernels as unknown as { allocator: { peakBytes: number } }).allocator
  const out: NodeE2e = { backend: kernels.name, loadMs, wasmPeakBytes: allocator.peakBytes, rssBytes: process.memoryUsage().rss, heapUsedBytes: process.memoryUsage().heapUsed, ...result }
  process.stdout.write(JSON.stringify(out) + '\n')
}

if (flag('--child')) {
  await child(option('--child')!, option('--modules'), Number(option('--reps') ?? 3))
  process.exit(0)
}

// ---- the orchestrator --------------------------------------------------------------------------

const { measureLimits, benchKernels, SHAPES } = await import('./bench-kernels.ts')
const quick = flag('--quick')
const reps = Number(option('--reps') ?? 3)
const log = (line = '') => console.log(line)
const started = performance.now()

const models = [
  { name: 'hymba-brown-17m', src: '/work/shared/models/hymba-brown-17m', key: '17m' },
  ...(quick ? [] : [{ name: 'bench-140m (random)', src: join(ROOT, '.tmp/bench-140m'), key: '140m' }]),
]
const QUANTS = ['f32', 'int8', 'int4'] as const

/** The model folder for one quantisation: the HF checkpoint for f32, a bundle (converted once, cached in .tmp/bundles) otherwise. */
async function modelDir(m: (typeof models)[number], quant: (typeof QUANTS)[number]): Promise<string> {
  if (m.key === '140m' && !existsSync(join(m.src, 'config.json'))) {
    log('writing the random bench-140m model (npm run make:bench-model)')
    execFileSync(process.execPath, ['--import', 'tsx', 'scripts/make-bench-model.ts'], { cwd: ROOT, stdio: 'inherit' })
  }
  if (quant === 'f32') return m.src
  const dir = join(ROOT, '.tmp/bundles', `${m.key}-${quant}`)
  if (!existsSync(join(dir, 'manifest.json'))) {
    const t0 = performance.now()
    await convertCheckpoint(folderSource(m.src), await folderSink(dir), { quant })
    log(`converted ${m.name} → ${quant} bundle in ${((performance.now() - t0) / 1e3).toFixed(1)} s (cached in .tmp/bundles)`)
  }
  return dir
}

function runChild(dir: string, modulesDir?: string): NodeE2e {
  const args = ['--expose-gc', '--import', 'tsx', 'scripts/bench.ts', '--child', dir, '--reps', String(reps)]
  if (modulesDir) args.push('--modules', modulesDir)
  const out = execFileSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 24 })
  return JSON.parse(out.trim().split('\n').pop()!)
}

// (a) limits
const limits = await measureLimits()
log(`machine: ${os.cpus()[0]?.model}, ${os.cpus().length} cores, Node ${process.version}`)
log(`(a) limits, one core: wasm f32x4 mul+add peak ${limits.peakGflops.toFixed(1)} GFLOP/s; streaming read ${limits.streamGBs.toFixed(1)} GB/s (256 MiB), ${limits.stream32MiBGBs.toFixed(1)} GB/s (32 MiB)`)

// (b) kernels
log('(b) kernels, plain SIMD (Node), weights + scales streamed per call; ORT = onnxruntime-web wasm, 1 thread')
const kernelShapes = quick ? SHAPES.slice(3, 4) : SHAPES
const plain = await benchKernels(limits, { shapes: kernelShapes, ort: !flag('--no-ort'), prefillT: [128] })
let relaxed: { backend: string; rows: Awaited<ReturnType<typeof benchKernels>>['rows'] } | undefined
if (!flag('--no-relaxed')) {
  log('(b) kernels, relaxed SIMD (node --experimental-wasm-relaxed-simd --no-liftoff)')
  const script = `const { measureLimits, benchKernels, SHAPES } = await import(${JSON.stringify(join(ROOT, 'scripts/bench-kernels.ts'))});` +
    `const r = await benchKernels(${JSON.stringify(limits)}, { shapes: ${quick ? 'SHAPES.slice(3, 4)' : 'SHAPES'}, ort: false, prefillT: [128], log: (l) => console.error(l) });` +
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
    if (baseline) runs.unshift(['node-baseline', resolve(baseline)])
    for (const [runtime, modulesDir] of runs) {
      try {
        const r = runChild(dir, modulesDir)
        e2e.push({ model: m.name, quant, runtime, ...r })
        log(`  ${runtime.padEnd(13)} ${m.name.padEnd(20)} ${quant.padEnd(4)} prefill ${r.prefillTokensPerS.toFixed(1)} tok/s, decode ${r.decodeTokensPerS.toFixed(1)} tok/s, ` +
          `TTFT ${r.ttftMetaPrefixMs.toFixed(0)} / ${r.ttftFromScratchMs.toFixed(0)} ms, wasm peak ${(r.wasmPeakBytes / MiB).toFixed(1)} MiB`)
      } catch (e) {
        e2e.push({ model: m.name, quant, runtime, error: String(e) })
        log(`  ${runtime} ${m.name} ${quant}: ${String(e).split('\n')[0]}`)
      }
    }
  }
}

// (d) inside workerd
let workerdVersion: string | undefined
if (!flag('--no-workerd')) {
  log('(d) end to end inside workerd (Miniflare), relaxed SIMD where available')
  const { build } = await import('esbuild')
  const outDir = join(ROOT, '.tmp/bench-worker')
  mkdirSync(outDir, { recursive: true })
  await build({ entryPoints: [join(ROOT, 'scripts/bench-worker.ts')], bundle: true, format: 'esm', platform: 'neutral', target: 'es2023',
    outfile: join(outDir, 'worker.js'), external: ['*.wasm'], logLevel: 'warning' })
  const { Miniflare } = await import('miniflare')
  workerdVersion = JSON.parse(readFileSync(join(ROOT, 'node_modules/workerd/package.json'), 'utf8')).version
  const serve = (request: Request): Response => {
    const path = decodeURIComponent(new URL(request.url).pathname)
    if (!existsSync(path) || !statSync(path).isFile()) return new Response('not found', { status: 404 })
    return new Response(request.method === 'HEAD' ? null : readFileSync(path))
  }
  const mf = new Miniflare({
    modules: [
      { type: 'ESModule', path: join(outDir, 'worker.js'), contents: readFileSync(join(outDir, 'worker.js'), 'utf8') },
      { type: 'CompiledWasm', path: join(outDir, 'kernels-simd.wasm'), contents: readFileSync(join(ROOT, 'wasm/kernels-simd.wasm')) },
      { type: 'CompiledWasm', path: join(outDir, 'kernels-relaxed.wasm'), contents: readFileSync(join(ROOT, 'wasm/kernels-relaxed.wasm')) },
    ],
    modulesRoot: outDir,
    compatibilityDate: '2026-04-01',
    serviceBindings: { FILES: serve },
  })
  try {
    for (const m of models) {
      for (const quant of QUANTS) {
        const dir = await modelDir(m, quant)
        // wasm memory: the 140M int4 model runs in 120 MiB (the 128 MB isolate budget, less room for JS)
        const memory = m.key === '140m' ? { f32: 768, int8: 256, int4: 120 }[quant] * MiB : 128 * MiB
        const url = `http://bench/run?dir=${encodeURIComponent(dir)}&memory=${memory}&prompt=${PROMPT}&decode=${DECODE}&reps=${reps}`
        const r = (await (await mf.dispatchFetch(url)).json()) as E2eRow & { memoryBytes: number }
        if (r.error) {
          e2e.push({ model: m.name, quant, runtime: 'workerd', error: r.error })
          log(`  workerd ${m.name} ${quant}: ${r.error.split('\n')[0]}`)
          continue
        }
        e2e.push({ ...r, model: m.name, quant, runtime: 'workerd' })
        log(`  workerd       ${m.name.padEnd(20)} ${quant.padEnd(4)} prefill ${r.prefillTokensPerS!.toFixed(1)} tok/s, decode ${r.decodeTokensPerS!.toFixed(1)} tok/s, ` +
          `TTFT ${r.ttftMetaPrefixMs!.toFixed(0)} / ${r.ttftFromScratchMs!.toFixed(0)} ms, wasm peak ${(r.wasmPeakBytes! / MiB).toFixed(1)} of ${r.memoryBytes / MiB} MiB (${r.backend})`)
      }
    }
  } finally {
    await mf.dispose()
  }
}

// ---- roofline, targets, table ------------------------------------------------------------------

const roofline = (r: E2eRow) => {
  if (!r.counts || !r.decodeMsPerToken) return undefined
  const computeMs = (r.counts.flops / (limits.peakGflops * 1e9)) * 1e3
  const memoryMs = (r.counts.bytes / (limits.streamGBs * 1e9)) * 1e3
  const minMs = Math.max(computeMs, memoryMs)
  return { computeMs, memoryMs, minMs, bound: computeMs > memoryMs ? 'compute' : 'memory', percent: (100 * minMs) / r.decodeMsPerToken }
}
const rooflines = e2e.map((r) => ({ ...r, roofline: roofline(r) }))

const ratio = (rows: typeof plain.rows, format: string, f: (r: (typeof plain.rows)[number]) => number | undefined) =>
  rows.filter((r) => r.format === format && r.T === 1).map(f).filter((v): v is number => v !== undefined && Number.isFinite(v))
const minOf = (xs: number[]) => (xs.length ? Math.min(...xs) : NaN)
const q8Stream = (rows: typeof plain.rows) => minOf(ratio(rows, 'q8', (r) => (100 * r.gbs) / limits.streamGBs))
const int4Fit = rooflines.find((r) => r.model.startsWith('bench-140m') && r.quant === 'int4' && r.runtime === 'node')
const int4FitWorkerd = rooflines.find((r) => r.model.startsWith('bench-140m') && r.quant === 'int4' && r.runtime === 'workerd')
const targets = {
  q8StreamPercentMin: { plain: q8Stream(plain.rows), relaxed: relaxed ? q8Stream(relaxed.rows) : undefined, target: 80 },
  q8VsOrtMin: { plain: minOf(ratio(plain.rows, 'q8', (r) => (r.ortGflops ? r.gflops / r.ortGflops : undefined))), target: 5 },
  q4VsOrtMin: { plain: minOf(ratio(plain.rows, 'q4', (r) => (r.ortGflops ? r.gflops / r.ortGflops : undefined))), target: 20 },
  decodeRooflinePercent: Object.fromEntries(rooflines.filter((r) => r.roofline).map((r) => [`${r.runtime} ${r.model} ${r.quant}`, r.roofline!.percent])),
  int4_140mFits128MB: int4Fit && {
    wasmPeakMiB: int4Fit.wasmPeakBytes! / MiB,
    jsHeapMiB: int4Fit.heapUsedBytes! / MiB,
    totalMiB: (int4Fit.wasmPeakBytes! + int4Fit.heapUsedBytes!) / MiB,
    fits: int4Fit.wasmPeakBytes! + int4Fit.heapUsedBytes! <= 128e6,
    workerdRanIn120MiB: int4FitWorkerd ? !int4FitWorkerd.error : undefined,
  },
}

// relaxed ratios vs ORT use the ORT times measured in the plain pass (same shapes, same run)
const relaxedVsOrt = relaxed?.rows.map((r) => {
  const p = plain.rows.find((x) => x.shape === r.shape && x.format === r.format && x.T === r.T)
  return p?.ortGflops ? r.gflops / p.ortGflops : undefined
})

log()
log('## Kernels (GFLOP/s; GB/s of weights + scales; × = speed-up over onnxruntime-web at the same shape and precision)')
log('| shape | fmt | T | plain ms | plain GFLOP/s | plain GB/s | relaxed GFLOP/s | relaxed GB/s | ORT GFLOP/s | × ORT (plain) | × ORT (relaxed) |')
log('|---|---|---|---|---|---|---|---|---|---|---|')
plain.rows.forEach((r) => {
  const i = relaxed?.rows.findIndex((x) => x.shape === r.shape && x.format === r.format && x.T === r.T) ?? -1
  const x = i >= 0 ? relaxed!.rows[i] : undefined
  const f = (v: number | undefined, d = 1) => (v === undefined ? '' : v.toFixed(d))
  log(`| ${r.shape} | ${r.format} | ${r.T} | ${f(r.ms, 3)} | ${f(r.gflops)} | ${f(r.gbs)} | ${f(x?.gflops)} | ${f(x?.gbs)} | ${f(r.ortGflops)} | ${f(r.ortGflops ? r.gflops / r.ortGflops : undefined)} | ${f(i >= 0 ? relaxedVsOrt![i] : undefined)} |`)
})
log()
log(`## End to end (prompt ${PROMPT}, ${DECODE} decode tokens, median of ${reps}; roofline = max(FLOPs / ${limits.peakGflops.toFixed(1)} GFLOP/s, bytes / ${limits.streamGBs.toFixed(1)} GB/s))`)
log('| runtime | model | quant | prefill tok/s | decode tok/s | TTFT meta prefix ms | TTFT from scratch ms | decode ms | roofline ms | % roofline | weights MiB | state MiB | wasm peak MiB | RSS MiB |')
log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
for (const r of rooflines) {
  if (r.error) {
    log(`| ${r.runtime} | ${r.model} | ${r.quant} | error: ${r.error.split('\n')[0].slice(0, 80)} |`)
    continue
  }
  const f = (v: number | undefined, d = 1) => (v === undefined ? '' : v.toFixed(d))
  log(`| ${r.runtime}${r.backend ? ` (${r.backend})` : ''} | ${r.model} | ${r.quant} | ${f(r.prefillTokensPerS)} | ${f(r.decodeTokensPerS)} | ${f(r.ttftMetaPrefixMs, 0)} | ${f(r.ttftFromScratchMs, 0)} | ` +
    `${f(r.decodeMsPerToken, 2)} | ${f(r.roofline?.minMs, 2)} (${r.roofline?.bound}) | ${f(r.roofline?.percent, 0)} | ${f(r.counts!.weightBytes / MiB)} | ${f(r.stateBytes! / MiB, 2)} | ${f(r.wasmPeakBytes! / MiB)} | ${f(r.rssBytes !== undefined ? r.rssBytes / MiB : undefined, 0)} |`)
}
log()
log('## Targets (issue 3)')
log(`- int8 matvec ≥ 80 % of streaming bandwidth: min over shapes ${targets.q8StreamPercentMin.plain.toFixed(0)} % plain` +
  (targets.q8StreamPercentMin.relaxed !== undefined ? `, ${targets.q8StreamPercentMin.relaxed.toFixed(0)} % relaxed` : ''))
log(`- int8 ≥ 5× ORT-web int8: min ${targets.q8VsOrtMin.plain.toFixed(1)}× plain; int4 ≥ 20× ORT-web int4: min ${targets.q4VsOrtMin.plain.toFixed(1)}× plain`)
log(`- decode ≥ 70 % of roofline: ${Object.entries(targets.decodeRooflinePercent).map(([k, v]) => `${k} ${v.toFixed(0)} %`).join('; ')}`)
if (targets.int4_140mFits128MB) {
  const t = targets.int4_140mFits128MB
  log(`- int4 140M fits 128 MB: wasm peak ${t.wasmPeakMiB.toFixed(1)} MiB + JS heap ${t.jsHeapMiB.toFixed(1)} MiB = ${t.totalMiB.toFixed(1)} MiB → ${t.fits ? 'yes' : 'NO'}` +
    (t.workerdRanIn120MiB !== undefined ? `; workerd with 120 MiB of wasm memory: ${t.workerdRanIn120MiB ? 'ran' : 'failed'}` : ''))
}

const result = {
  date: new Date().toISOString(),
  command: `npm run bench${argv.length ? ' -- ' + argv.join(' ') : ''}`,
  machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, workerd: workerdVersion, loadAverage: os.loadavg() },
  settings: { promptTokens: PROMPT, decodeTokens: DECODE, repetitions: reps, group: 32 },
  limits,
  kernels: { plain, relaxed },
  e2e: rooflines,
  targets,
  seconds: (performance.now() - started) / 1e3,
}
mkdirSync(join(ROOT, 'bench'), { recursive: true })
writeFileSync(join(ROOT, 'bench/results.json'), JSON.stringify(result, null, 2) + '\n')
log(`wrote bench/results.json (${result.seconds.toFixed(0)} s)`)
