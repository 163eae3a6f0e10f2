// Time to first token with and without the meta-token prefix cache (issue 4 item 4), on the embedded
// model and the worker's backend (WASM, plain SIMD): prefill of a chat prompt from `model.newState()`
// (the cached prefix) vs `prefillFromScratch` (the M = 128 meta tokens computed again with the prompt).
// Usage: npx tsx scripts/meta-prefix-ttft.ts [runs]
import { loadModel } from '../src/load.ts'
import { folderSource } from '../src/node/folder-source.ts'
import { HymbaTokenizer } from '../src/tokenizer.ts'
import { createWasmKernels } from '../wasm/loader.ts'

const runs = Number(process.argv[2] ?? 5)
const source = folderSource(new URL('../models/hymba-brown-17m', import.meta.url).pathname)
const model = await loadModel(source, { kernels: await createWasmKernels({ relaxed: false }) })
const tokenizer = await HymbaTokenizer.fromSource(source)
const prompt = tokenizer.applyChatTemplate([{ role: 'user', content: 'What did the jury say about the election?' }], { addGenerationPrompt: true })
const ids = tokenizer.encode(prompt, { addBos: false })

const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!
const time = (f: () => void) => {
  const samples: number[] = []
  for (let i = 0; i < runs; i++) {
    const t = performance.now()
    f()
    samples.push(performance.now() - t)
  }
  return median(samples)
}
const cached = time(() => {
  const state = model.newState()
  model.prefill(state, ids)
  state.dispose()
})
const scratch = time(() => model.prefillFromScratch(ids).state.dispose())
console.log(JSON.stringify({ promptTokens: ids.length, metaTokens: model.config.numMetaTokens, cachedPrefixMs: +cached.toFixed(1), fromScratchMs: +scratch.toFixed(1), savedMs: +(scratch - cached).toFixed(1) }))
