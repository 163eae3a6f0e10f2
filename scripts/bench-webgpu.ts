// WebGPU benchmark (run with Deno: `npm run bench:webgpu -- [options]`): time to first token,
// prefill and decode tokens/s of WebGpuModel for the demo model (models/hymba-brown-17m) and a
// random-weight model of ../shared/models/bench-140m/config.json (fixed seed), with f32, f16 (the
// f16 path: f32 weights stored as f16; only on adapters with shader-f16), int8 and int4 weights.
// Decode three ways: decode() reading all V logits back per token, decodeTopK (k = 40, a sampler's
// candidates) and decodeGreedy (argmax chained on the GPU, one readback per --chunk tokens).
// Writes bench/results-webgpu.json.
// Options: --models demo,bench  --formats f32,f16,q8,q4  --prompt 128  --long 512  --decode 64
//          --chunk 16  --bench-config PATH  --demo DIR  --out FILE
import { readFile, writeFile, mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { MatrixSource } from '../src/backend.ts'
import { TensorStore } from '../src/checkpoint.ts'
import { parseConfig, type HymbaConfig } from '../src/config.ts'
import { checkpointReader, readConfig } from '../src/load.ts'
import { folderSource } from '../src/node/folder-source.ts'
import { wgslFiles } from '../src/node/wgsl-source.ts'
import { quantizeQ4, quantizeQ8 } from '../src/quant.ts'
import { requestGpu } from '../src/webgpu/gpu.ts'
import { WebGpuModel } from '../src/webgpu/model.ts'
import { expectedTensors, type WeightReader } from '../src/weights.ts'

const ROOT = join(import.meta.dirname, '..')
const args = new Map<string, string>()
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i].replace(/^--/, ''), process.argv[i + 1])
const option = (name: string, fallback: string) => args.get(name) ?? fallback
const models = option('models', 'demo,bench').split(',')
const formats = option('formats', 'f32,f16,q8,q4').split(',') as Format[]
const promptTokens = Number(option('prompt', '128'))
const longPrompt = Number(option('long', '512'))
const decodeTokens = Number(option('decode', '64'))
const chunk = Number(option('chunk', '16'))
const TOP_K = 40
const out = option('out', join(ROOT, 'bench', 'results-webgpu.json'))

type Format = 'f32' | 'f16' | 'q8' | 'q4'

/** Quantise every matrix whose width is a multiple of 32 to int8 / int4 (groups of 32 columns); narrower ones (dt_proj, R columns) stay f32. */
function quantized(reader: WeightReader, format: Format): WeightReader {
  if (format === 'f32' || format === 'f16') return reader
  return {
    has: (name) => reader.has(name),
    f32: (name, shape) => reader.f32(name, shape),
    matrix: (name, rows, cols): MatrixSource => {
      const source = reader.matrix(name, rows, cols)
      if (source.format !== 'f32' || cols % 32 !== 0) return source
      return format === 'q8' ? quantizeQ8(source, 32) : quantizeQ4(source, 32)
    },
  }
}

/** Seeded random weights of plausible scale for a config (speed does not depend on the values). */
function randomReader(config: HymbaConfig, seed: number): WeightReader {
  const shapes = expectedTensors(config, { has: () => true })
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const fill = (n: number, f: () => number) => Float32Array.from({ length: n }, f)
  const vector = (name: string, n: number): Float32Array => {
    if (name.includes('norm')) return fill(n, () => 1 + 0.1 * (next() - 0.5))
    if (name.includes('A_log')) return fill(n, () => Math.log(1 + 15 * next()))
    if (name.endsWith('D.0')) return fill(n, () => 1)
    if (name.includes('dt_proj.0.bias')) return fill(n, () => -4 + 2 * next())
    return fill(n, () => next() - 0.5)
  }
  return {
    has: (name) => shapes.has(name),
    f32: (name, shape) => vector(name, shape.reduce((a, b) => a * b, 1)),
    matrix: (name, rows, cols) => {
      const scale = 2 / Math.sqrt(cols)
      return { format: 'f32', rows, cols, data: fill(rows * cols, () => (next() - 0.5) * scale) }
    },
  }
}

const argmax = (logits: Float32Array) => logits.reduce((best, v, i) => (v > logits[best] ? i : best), 0)
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function measure(model: WebGpuModel, ids: (n: number) => number[]) {
  // warm-up: compile, first allocations at both sizes
  const warm = model.newState()
  await model.prefill(warm, ids(longPrompt))
  for (let i = 0; i < 4; i++) await model.decode(warm, 5 + i)
  await model.decodeTopK(warm, 9, TOP_K)
  await model.decodeGreedy(warm, 10, chunk)
  warm.dispose()

  const timed = async (n: number) => {
    const times: number[] = []
    for (let r = 0; r < 3; r++) {
      const state = model.newState()
      const start = performance.now()
      await model.prefill(state, ids(n))
      times.push(performance.now() - start)
      state.dispose()
    }
    return median(times)
  }
  const ttft = await timed(promptTokens)
  const long = await timed(longPrompt)

  // decode(): every logit back, argmax on the CPU (the sampler's view before issue 6's picks)
  const prompt = ids(promptTokens) // one prompt for the three decode loops, so their tokens can be compared
  let state = model.newState()
  const first = argmax(await model.prefill(state, prompt))
  const tokens: number[] = []
  let start = performance.now()
  for (let token = first; tokens.length < decodeTokens; ) tokens.push((token = argmax(await model.decode(state, token))))
  const decodeMs = performance.now() - start
  state.dispose()

  // decodeTopK: the k most likely tokens and log Σ exp back (8k + 4 bytes)
  state = model.newState()
  await model.prefill(state, prompt)
  start = performance.now()
  for (let token = first, i = 0; i < decodeTokens; i++) token = (await model.decodeTopK(state, token, TOP_K)).ids[0]
  const topKMs = performance.now() - start
  state.dispose()

  // decodeGreedy: chunks of `chunk` steps chained on the GPU, one 4-byte-per-token readback per chunk
  state = model.newState()
  await model.prefill(state, prompt)
  const greedy: number[] = []
  start = performance.now()
  for (let token = first; greedy.length < decodeTokens; ) {
    const picked = await model.decodeGreedy(state, token, Math.min(chunk, decodeTokens - greedy.length))
    greedy.push(...picked)
    token = picked[picked.length - 1]
  }
  const greedyMs = performance.now() - start
  state.dispose()
  const same = greedy.every((t, i) => t === tokens[i])
  if (!same) console.log(`note: decodeGreedy tokens differ from decode() + argmax (first at ${greedy.findIndex((t, i) => t !== tokens[i])}): near-ties?`)
  const rate = (ms: number) => ({ tokens: decodeTokens, ms: round(ms), tokensPerSecond: round((1000 * decodeTokens) / ms), msPerToken: round(ms / decodeTokens) })
  return {
    ttftMs: round(ttft),
    prefill: { tokens: promptTokens, ms: round(ttft), tokensPerSecond: round((1000 * promptTokens) / ttft) },
    prefillLong: { tokens: longPrompt, ms: round(long), tokensPerSecond: round((1000 * longPrompt) / long) },
    decode: rate(decodeMs),
    decodeTopK: { k: TOP_K, ...rate(topKMs) },
    decodeGreedy: { chunk, sameTokensAsDecode: same, ...rate(greedyMs) },
  }
}
const round = (x: number) => Math.round(x * 100) / 100

const gpu = await requestGpu()
console.log(`adapter: ${gpu.adapterName}`)
const results = []
for (const name of models) {
  const demoDir = option('demo', join(ROOT, 'models', 'hymba-brown-17m'))
  const benchConfig = option('bench-config', join(ROOT, '..', 'shared', 'models', 'bench-140m', 'config.json'))
  const config = name === 'demo' ? await readConfig(folderSource(demoDir)) : parseConfig(JSON.parse(await readFile(benchConfig, 'utf8')))
  const base = name === 'demo' ? checkpointReader(await TensorStore.open(folderSource(demoDir))) : randomReader(config, 1234)
  for (const format of formats) {
    if (format === 'f16' && !gpu.f16) {
      console.log(`${name} f16: skipped, the adapter has no shader-f16`)
      continue
    }
    const loadStart = performance.now()
    const model = await WebGpuModel.create(config, quantized(base, format), { shaders: wgslFiles, gpu, f16Weights: format === 'f16' })
    const loadMs = performance.now() - loadStart
    let seed = 7
    const ids = (n: number) => Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) % (config.vocabSize - 3)) + 3)
    const result = { model: name === 'demo' ? 'hymba-brown-17m' : 'bench-140m (random, seed 1234)', format, loadMs: round(loadMs), ...(await measure(model, ids)) }
    console.log(JSON.stringify(result))
    results.push(result)
    model.dispose()
  }
}
await mkdir(dirname(out), { recursive: true })
await writeFile(
  out,
  JSON.stringify({ date: new Date().toISOString(), adapter: gpu.adapterName, runtime: `deno ${(globalThis as { Deno?: { version: { deno: string } } }).Deno?.version.deno}`, command: `deno run -A scripts/bench-webgpu.ts ${process.argv.slice(2).join(' ')}`, results }, null, 2) + '\n',
)
console.log(`wrote ${out}`)
