// Fixtures A and B (../shared/reference) through WebGpuModel: prefill, decode through the cache and
// full-prefill logits against NVIDIA's reference logits, and append(chunk) against token-by-token
// decoding across the window, against the reference backend; the GPU-side picks (decodeTopK,
// chained decodeGreedy with a stop token) against decode() + a CPU sort; the f16 path against the
// reference backend on the same f16-rounded weights (same f32 arithmetic, so the same tolerance) and
// NVIDIA's argmax. Portable: Deno (model-checks.ts) and the headless-Chromium page
// (test/webgpu-browser/page.ts) pass their own file access and tolerance.
import { TensorStore, type CheckpointSource } from '../../src/checkpoint.ts'
import { checkpointReader, loadModel, readConfig } from '../../src/load.ts'
import { HymbaModel } from '../../src/model.ts'
import { createReferenceKernels } from '../../src/reference/kernels.ts'
import { argmax } from '../../src/sampling.ts'
import { loadWeights, type WeightReader } from '../../src/weights.ts'
import type { Gpu } from '../../src/webgpu/gpu.ts'
import type { ShaderSource } from '../../src/webgpu/kernels.ts'
import { f16Bits, f16Value } from '../../src/webgpu/matrix.ts'
import { WebGpuModel } from '../../src/webgpu/model.ts'
import { argmaxRows, type Fixture } from '../support/fixture-format.ts'
import { expectClose } from './harness.ts'
import type { Check } from './kernel-checks.ts'

export interface FixtureEnv {
  /** The fixture's model folder (config.json, model.safetensors). */
  readonly source: (name: string) => CheckpointSource
  readonly fixture: (name: string) => Promise<Fixture>
  readonly shaders: ShaderSource
  /** Max |logit − reference logit|. */
  readonly tol: number
}

const sameArgmax = (a: Float32Array, b: Float32Array, V: number, what: string) => {
  const x = argmaxRows(a, V).join(',')
  const y = argmaxRows(b, V).join(',')
  if (x !== y) throw new Error(`${what}: argmax differs: ${x} vs ${y}`)
}

export function fixtureChecks(env: FixtureEnv, names: readonly string[] = ['A', 'B']): Check[] {
  const checks: Check[] = []
  const models = new Map<string, Promise<WebGpuModel>>()
  const modelFor = (name: string, gpu: Gpu) => {
    if (!models.has(name)) models.set(name, WebGpuModel.load(env.source(name), { shaders: env.shaders, gpu }))
    return models.get(name)!
  }
  const f16Models = new Map<string, Promise<WebGpuModel>>()
  const f16ModelFor = (name: string, gpu: Gpu) => {
    if (!f16Models.has(name)) f16Models.set(name, WebGpuModel.load(env.source(name), { shaders: env.shaders, gpu, f16Weights: true }))
    return f16Models.get(name)!
  }
  const tol = env.tol
  for (const name of names) {
    checks.push({
      name: `fixture ${name}: prefill logits match`,
      run: async (gpu) => {
        const [model, fixture] = await Promise.all([modelFor(name, gpu), env.fixture(name)])
        const logits = await model.prefill(model.newState(), fixture.promptIds, { allLogits: true })
        expectClose(logits, fixture.logitsPrefill, tol, 'logits_prefill')
        sameArgmax(logits, fixture.logitsPrefill, model.config.vocabSize, 'logits_prefill')
      },
    })
    checks.push({
      name: `fixture ${name}: decode logits (token by token through the cache) match`,
      run: async (gpu) => {
        const [model, fixture] = await Promise.all([modelFor(name, gpu), env.fixture(name)])
        const state = model.newState()
        await model.prefill(state, fixture.promptIds)
        const V = model.config.vocabSize
        const logits = new Float32Array(fixture.decodeIds.length * V)
        for (const [t, id] of fixture.decodeIds.entries()) logits.set(await model.decode(state, id), t * V)
        expectClose(logits, fixture.logitsDecode, tol, 'logits_decode')
        sameArgmax(logits, fixture.logitsDecode, V, 'logits_decode')
      },
    })
    checks.push({
      name: `fixture ${name}: full prefill logits (prefill window rule over prompt + decode ids) match`,
      run: async (gpu) => {
        const [model, fixture] = await Promise.all([modelFor(name, gpu), env.fixture(name)])
        const logits = await model.prefill(model.newState(), [...fixture.promptIds, ...fixture.decodeIds], { allLogits: true })
        expectClose(logits, fixture.logitsFull, tol, 'logits_full')
      },
    })
    checks.push({
      name: `fixture ${name}: append(chunk) across the window equals the reference backend's append`,
      run: async (gpu) => {
        const [model, fixture] = await Promise.all([modelFor(name, gpu), env.fixture(name)])
        const reference = await loadModel(env.source(name), { kernels: createReferenceKernels() })
        const W = model.config.slidingWindow
        const ids = [...fixture.decodeIds, ...fixture.decodeIds, ...fixture.promptIds].slice(0, 2 * W + 3)
        const state = model.newState()
        const refState = reference.newState()
        await model.prefill(state, fixture.promptIds.slice(0, 5))
        reference.prefill(refState, fixture.promptIds.slice(0, 5))
        // chunks of 1, W + 2 and the rest: a single token, a chunk longer than the ring, a tail
        for (const chunk of [ids.slice(0, 1), ids.slice(1, W + 3), ids.slice(W + 3)]) {
          const got = await model.append(state, chunk, { allLogits: true })
          const want = reference.append(refState, chunk, { allLogits: true })
          expectClose(got, want, tol, `append of ${chunk.length}`)
        }
        const got = await model.decode(state, 3)
        expectClose(got, reference.decode(refState, 3), tol, 'decode after the appends')
      },
    })
    checks.push({
      name: `fixture ${name}: decodeTopK returns decode()'s top logits, ids and log Σ exp`,
      run: async (gpu) => {
        const [model, fixture] = await Promise.all([modelFor(name, gpu), env.fixture(name)])
        const [a, b] = [model.newState(), model.newState()]
        await Promise.all([model.prefill(a, fixture.promptIds), model.prefill(b, fixture.promptIds)])
        const id = fixture.decodeIds[0]
        const k = 40 // a sampler's top-k: 81 words of picks, more than the model starts with
        const [logits, top] = await Promise.all([model.decode(a, id), model.decodeTopK(b, id, k)])
        const order = Array.from(logits.keys()).sort((x, y) => logits[y] - logits[x] || x - y)
        if ([...top.ids].join(',') !== order.slice(0, k).join(',')) throw new Error(`ids ${[...top.ids]}, expected ${order.slice(0, k)}`)
        expectClose(top.logits, order.slice(0, k).map((i) => logits[i]), 0, 'top logits (the same lm_head output)')
        let sum = 0
        for (const v of logits) sum += Math.exp(v - logits[order[0]])
        // V terms summed in f32 on the GPU (V·ε relative), exp within a few ulp
        expectClose([top.logSumExp], [logits[order[0]] + Math.log(sum)], (logits.length + 40) * 2 ** -23 * Math.max(1, Math.abs(top.logSumExp)), 'log Σ exp')
        expectClose(await model.decode(b, 7), await model.decode(a, 7), 0, 'the states after decode() and decodeTopK()')
      },
    })
    checks.push({
      name: `fixture ${name}: decodeGreedy (argmax chained on the GPU) equals decode() + argmax, and undoes the steps past a stop token`,
      run: async (gpu) => {
        const [model, fixture] = await Promise.all([modelFor(name, gpu), env.fixture(name)])
        const count = 2 * model.config.slidingWindow + 3 // across the sliding ring, twice
        const stepwise = model.newState()
        await model.prefill(stepwise, fixture.promptIds)
        const first = fixture.decodeIds[0]
        const expected: number[] = []
        const logitsAfter: Float32Array[] = [] // logits after consuming first, expected[0], …
        for (let input = first; expected.length < count; ) {
          const logits = await model.decode(stepwise, input)
          logitsAfter.push(logits)
          input = argmax(logits)
          expected.push(input)
        }
        const chained = model.newState()
        await model.prefill(chained, fixture.promptIds)
        const got = await model.decodeGreedy(chained, first, count)
        if (got.join(',') !== expected.join(',')) throw new Error(`greedy ${got.join(',')}, expected ${expected.join(',')}`)
        // the state consumed first … got[count − 2]; got[count − 1] is the next input
        const next = await model.decode(chained, got[count - 1])
        expectClose(next, await model.decode(stepwise, expected[count - 1]), 0, 'decode after the chain')
        // a stop token late in the chain (its first occurrence at `at`): the steps after it are undone
        const at = expected.length - 4
        const stop = expected.findIndex((t) => t === expected[at])
        const stopped = model.newState()
        await model.prefill(stopped, fixture.promptIds)
        const cut = await model.decodeGreedy(stopped, first, count, [expected[stop]])
        if (cut.join(',') !== expected.slice(0, stop + 1).join(',')) throw new Error(`stopped greedy ${cut.join(',')}, expected ${expected.slice(0, stop + 1).join(',')}`)
        expectClose(await model.decode(stopped, expected[stop]), logitsAfter[stop + 1], 0, 'decode of the stop token after the undo')
      },
    })
    checks.push({
      name: `fixture ${name}: f16 weights: logits match the reference backend on the same f16-rounded weights`,
      f16: true,
      run: async (gpu) => {
        const [model, fixture] = await Promise.all([f16ModelFor(name, gpu), env.fixture(name)])
        if (!model.f16Weights) throw new Error('the f16 path was not taken')
        const reference = await roundedReference(env.source(name))
        const state = model.newState()
        const refState = reference.newState()
        const prefill = await model.prefill(state, fixture.promptIds, { allLogits: true })
        expectClose(prefill, reference.prefill(refState, fixture.promptIds, { allLogits: true }), tol, 'prefill (f16 weights)')
        for (const id of fixture.decodeIds) expectClose(await model.decode(state, id), reference.decode(refState, id), tol, `decode ${id} (f16 weights)`)
      },
    })
    checks.push({
      name: `fixture ${name}: f16 weights: argmax of every prefill and decode row equals NVIDIA's`,
      f16: true,
      run: async (gpu) => {
        const [model, fixture] = await Promise.all([f16ModelFor(name, gpu), env.fixture(name)])
        const V = model.config.vocabSize
        const state = model.newState()
        sameArgmax(await model.prefill(state, fixture.promptIds, { allLogits: true }), fixture.logitsPrefill, V, 'logits_prefill (f16 weights)')
        const logits = new Float32Array(fixture.decodeIds.length * V)
        for (const [t, id] of fixture.decodeIds.entries()) logits.set(await model.decode(state, id), t * V)
        sameArgmax(logits, fixture.logitsDecode, V, 'logits_decode (f16 weights)')
      },
    })
  }
  return checks
}

/** The reference backend on the checkpoint with every matrix rounded to f16 (what the f16 path uploads). */
async function roundedReference(source: CheckpointSource): Promise<HymbaModel> {
  const kernels = createReferenceKernels()
  const config = await readConfig(source)
  const checkpoint = checkpointReader(await TensorStore.open(source))
  const reader: WeightReader = {
    ...checkpoint,
    matrix: (name, rows, cols) => {
      const m = checkpoint.matrix(name, rows, cols)
      return m.format === 'f32' ? { ...m, data: m.data.map((v) => f16Value(f16Bits(v))) } : m
    },
  }
  return new HymbaModel(config, loadWeights(config, reader, kernels), kernels)
}
