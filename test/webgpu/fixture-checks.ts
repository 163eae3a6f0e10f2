// Fixtures A and B (../shared/reference) through WebGpuModel: prefill, decode through the cache and
// full-prefill logits against NVIDIA's reference logits, and append(chunk) against token-by-token
// decoding across the window, against the reference backend. Portable: Deno (model-checks.ts) and the
// headless-Chromium page (test/webgpu-browser/page.ts) pass their own file access and tolerance.
import type { CheckpointSource } from '../../src/checkpoint.ts'
import { loadModel } from '../../src/load.ts'
import { createReferenceKernels } from '../../src/reference/kernels.ts'
import type { Gpu } from '../../src/webgpu/gpu.ts'
import type { ShaderSource } from '../../src/webgpu/kernels.ts'
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
  }
  return checks
}
