// `npm run bench:sampling`: the cost of drawing one token from a 32001-token distribution, per
// sampling option set, on the shipped model's logits (models/hymba-brown-17m after a short prompt),
// beside the draw this project made before (a sort of the whole vocabulary unless top_k was set),
// timed in the same run.
// Prints a table and writes bench/sampling.json.
import { writeFileSync } from 'node:fs'
import { loadModel } from '../src/load.ts'
import { folderSource } from '../src/node/folder-source.ts'
import { createWasmKernels } from '../wasm/loader.ts'
import { logSoftmax, logSumExp, Sampler, seededRandom, topIds, type SamplerOptions } from '../src/sampling.ts'
import { HymbaTokenizer } from '../src/tokenizer.ts'

/** The previous draw (until 2026-11-29): the top-k ids, or every id sorted by logit; then top-p, a walk in that order. */
function sortedDraw(logits: Float32Array, options: SamplerOptions, random: () => number): number {
  const T = options.temperature ?? 1
  const topK = options.topK ?? 0
  const pool = topK > 0 && topK < logits.length ? topIds(logits, topK) : Array.from(logits, (_, i) => i).sort((a, b) => logits[b] - logits[a])
  const weights = pool.map((i) => Math.exp((logits[i] - logits[pool[0]]) / T))
  const total = weights.reduce((a, b) => a + b, 0)
  let keep = pool.length
  let mass = 0
  for (let j = 0; j < pool.length && (options.topP ?? 1) < 1; j++) {
    mass += weights[j] / total
    if (mass >= options.topP!) {
      keep = j + 1
      break
    }
  }
  let r = random() * weights.slice(0, keep).reduce((a, b) => a + b, 0)
  for (let j = 0; j < keep; j++) if ((r -= weights[j]) < 0) return pool[j]
  return pool[keep - 1]
}

const time = (f: () => void): number => {
  for (let i = 0; i < 5; i++) f()
  const runs: number[] = []
  for (let r = 0; r < 9; r++) {
    const t0 = performance.now()
    for (let i = 0; i < 10; i++) f()
    runs.push((performance.now() - t0) / 10)
  }
  return runs.sort((a, b) => a - b)[4]
}

const source = folderSource(new URL('../models/hymba-brown-17m', import.meta.url).pathname)
const model = await loadModel(source, { kernels: await createWasmKernels() })
const tokenizer = await HymbaTokenizer.fromSource(source)
const logits = model.prefill(model.newState(), tokenizer.encode('The jury said that the city'))
const cases: Array<[string, SamplerOptions]> = [
  ['temperature 1 (API default)', {}],
  ['temperature 0.7, top_p 0.9', { temperature: 0.7, topP: 0.9 }],
  ['top_p 0.95', { topP: 0.95 }],
  ['top_k 40', { topK: 40 }],
  ['temperature 1.2, top_k 50, top_p 0.95', { temperature: 1.2, topK: 50, topP: 0.95 }],
]
const rows = cases.map(([name, options]) => {
  const sampler = new Sampler({ ...options, seed: 1 })
  const random = seededRandom(1)
  const ms = time(() => sampler.sample(logits))
  const beforeMs = time(() => sortedDraw(logits, options, random))
  return { name, options, ms, beforeMs, speedup: beforeMs / ms }
})
const logprob = { ms: time(() => logSumExp(logits)), beforeMs: time(() => logSoftmax(logits)) }
console.log(`| sampling (V = ${logits.length}) | ms a token | before ms | × |`)
console.log('|---|---|---|---|')
for (const r of rows) console.log(`| ${r.name} | ${r.ms.toFixed(3)} | ${r.beforeMs.toFixed(3)} | ${r.speedup.toFixed(1)} |`)
console.log(`| log-probability of the token (logSumExp; before: a [V] logSoftmax) | ${logprob.ms.toFixed(3)} | ${logprob.beforeMs.toFixed(3)} | ${(logprob.beforeMs / logprob.ms).toFixed(1)} |`)
writeFileSync(new URL('../bench/sampling.json', import.meta.url), JSON.stringify({ date: new Date().toISOString(), command: 'npm run bench:sampling', vocab: logits.length, rows, logprob }, null, 2) + '\n')
console.log('wrote bench/sampling.json')
