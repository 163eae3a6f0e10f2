// Parity of the core with NVIDIA's reference logits (fixtures A and B), per layer, and the state
// operations (serialize/restore, append vs decode, meta prefix vs full prefill, fork, ring size), and
// generate() with and without log-probabilities.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { loadModel } from '../src/load.ts'
import { HymbaModel } from '../src/model.ts'
import type { HymbaState } from '../src/state.ts'
import { folderSource } from '../src/node/folder-source.ts'
import { createKernels } from '../src/node/kernels.ts'
import { createReferenceKernels } from '../src/reference/kernels.ts'
import { argmaxRows, expectClose, fixtureDir, readFixture } from './support/fixtures.ts'
import { generate, type GeneratedToken } from '../src/generate.ts'
import { logSoftmax } from '../src/sampling.ts'

// ../shared/reference/README.md: a correct float32 port reaches 1e-4.
const LOGIT_TOL = 1e-4

const models = new Map<string, Promise<HymbaModel>>()
const modelOn = (backend: string, name: string) => {
  const key = `${backend}/${name}`
  if (!models.has(key)) models.set(key, createKernels(backend, { memoryBytes: 64 << 20 }).then((kernels) => loadModel(folderSource(fixtureDir(name)), { kernels })))
  return models.get(key)!
}

/** Same results by different routes: bit-identical on the reference backend; on a SIMD backend a
 * batched matmul sums in another order than a matvec, so allow float32 rounding (2⁻²³·|x|·n terms). */
function expectSame(actual: Float32Array, expected: Float32Array, backend: string, what: string): void {
  if (backend === 'ts') assert.deepEqual(actual, expected, what)
  else expectClose(actual, expected, 1e-5 * Math.max(1, ...expected.map(Math.abs)), what)
}

function expectSameState(a: HymbaState, b: HymbaState, backend: string): void {
  assert.equal(a.textTokens, b.textTokens)
  a.layers.forEach((layer, i) => {
    const other = b.layers[i]
    expectSame(layer.conv, other.conv, backend, `layer ${i} conv state`)
    expectSame(layer.ssm, other.ssm, backend, `layer ${i} ssm state`)
    if (layer.kv && other.kv) {
      assert.equal(layer.kv.length, other.kv.length)
      assert.deepEqual(layer.kv.positions.subarray(0, layer.kv.length), other.kv.positions.subarray(0, other.kv.length))
      expectSame(layer.kv.keys.subarray(0, layer.kv.length * layer.kv.keyWidth), other.kv.keys.subarray(0, other.kv.length * other.kv.keyWidth), backend, `layer ${i} keys`)
      expectSame(layer.kv.values.subarray(0, layer.kv.length * layer.kv.valueWidth), other.kv.values.subarray(0, other.kv.length * other.kv.valueWidth), backend, `layer ${i} values`)
    }
  })
}

for (const backend of ['ts', 'wasm'])
for (const name of ['A', 'B']) {
  const modelFor = (fixture: string) => modelOn(backend, fixture)
  describe(`fixture ${name} (${backend} backend)`, () => {
    const fixture = readFixture(name)

    it('hidden states of a one-shot prefill match layer by layer', async () => {
      const model = await modelFor(name)
      const { hiddenSize: H, numMetaTokens: M, numLayers } = model.config
      const rows = M + fixture.promptIds.length
      const seen: number[] = []
      model.prefillFromScratch(fixture.promptIds, {
        trace: (layer, x, T) => {
          assert.equal(T, rows)
          const expected = fixture.hiddenPrefill.subarray(layer * rows * H, (layer + 1) * rows * H)
          expectClose(x.subarray(0, rows * H), expected, LOGIT_TOL, layer === numLayers ? 'after the final norm' : `residual entering layer ${layer}`)
          seen.push(layer)
        },
      })
      assert.deepEqual(seen, Array.from({ length: numLayers + 1 }, (_, i) => i))
    })

    it('prefill logits match, argmax identical', async () => {
      const model = await modelFor(name)
      const logits = model.prefill(model.newState(), fixture.promptIds, { allLogits: true })
      expectClose(logits, fixture.logitsPrefill, LOGIT_TOL, 'logits_prefill')
      assert.deepEqual(argmaxRows(logits, model.config.vocabSize), argmaxRows(fixture.logitsPrefill, model.config.vocabSize))
    })

    it('decode logits (token by token through the cache) match', async () => {
      const model = await modelFor(name)
      const state = model.newState()
      model.prefill(state, fixture.promptIds)
      const V = model.config.vocabSize
      const logits = new Float32Array(fixture.decodeIds.length * V)
      fixture.decodeIds.forEach((id, t) => logits.set(model.decode(state, id), t * V))
      expectClose(logits, fixture.logitsDecode, LOGIT_TOL, 'logits_decode')
      assert.deepEqual(argmaxRows(logits, V), argmaxRows(fixture.logitsDecode, V))
    })

    it('full prefill logits (prefill window rule over prompt + decode ids) match', async () => {
      const model = await modelFor(name)
      const logits = model.prefill(model.newState(), [...fixture.promptIds, ...fixture.decodeIds], { allLogits: true })
      expectClose(logits, fixture.logitsFull, LOGIT_TOL, 'logits_full')
      assert.deepEqual(argmaxRows(logits, model.config.vocabSize), argmaxRows(fixture.logitsFull, model.config.vocabSize))
    })

    it('a prefill on the precomputed meta prefix equals a one-shot prefill', async () => {
      const model = await modelFor(name)
      const ids = [...fixture.promptIds, ...fixture.decodeIds]
      const fromPrefix = model.newState()
      const a = model.prefill(fromPrefix, ids, { allLogits: true })
      const { state: fromScratch, logits: b } = model.prefillFromScratch(ids, { allLogits: true })
      expectSame(a, b, backend, 'logits')
      expectSameState(fromPrefix, fromScratch, backend)
    })

    it('append(chunk) equals decoding the chunk token by token, across the window', async () => {
      const model = await modelFor(name)
      const ids = [...fixture.decodeIds, ...fixture.decodeIds, ...fixture.promptIds].slice(0, 2 * model.config.slidingWindow + 3)
      const stepwise = model.newState()
      const batched = model.newState()
      model.prefill(stepwise, fixture.promptIds.slice(0, 5))
      model.prefill(batched, fixture.promptIds.slice(0, 5))
      const V = model.config.vocabSize
      const expected = new Float32Array(ids.length * V)
      ids.forEach((id, t) => expected.set(model.decode(stepwise, id), t * V))
      // uneven chunks: one token, one short, one longer than the window
      const cuts = [1, 4, ids.length]
      const actual = new Float32Array(ids.length * V)
      let start = 0
      for (const end of cuts) {
        actual.set(model.append(batched, ids.slice(start, end), { allLogits: true }), start * V)
        start = end
      }
      expectSame(actual, expected, backend, 'logits')
      expectSameState(batched, stepwise, backend)
    })

    // Chunked passes (issue 3: scratch bounded by the chunk, not the prompt): chunks of 1 row, of
    // fewer and of more rows than the window W, so chunks start on both sides of ring wrap-arounds.
    const chunked = async (chunkTokens: number) => {
      const model = await modelFor(name)
      return new HymbaModel(model.config, model.weights, model.kernels, { chunkTokens })
    }
    const chunkSizes = (W: number) => [1, 5, W - 1, W + 1]

    it('chunked prefill keeps the prefill window rule: reference logits and the one-pass logits', async () => {
      const whole = await chunked(Infinity)
      const ids = [...fixture.promptIds, ...fixture.decodeIds]
      const onePass = whole.prefill(whole.newState(), ids, { allLogits: true })
      for (const size of chunkSizes(whole.config.slidingWindow)) {
        const model = await chunked(size)
        const state = model.newState()
        const logits = model.prefill(state, ids, { allLogits: true })
        expectClose(logits, fixture.logitsFull, LOGIT_TOL, `logits_full, chunks of ${size}`)
        expectSame(logits, onePass, backend, `one-pass logits, chunks of ${size}`)
        const reference = whole.newState()
        whole.prefill(reference, ids)
        expectSameState(state, reference, backend)
        expectSame(model.prefill(model.newState(), ids), onePass.subarray((ids.length - 1) * model.config.vocabSize), backend, `last row, chunks of ${size}`)
      }
    })

    it('chunked prefillFromScratch and meta prefix equal the one-pass ones', async () => {
      const whole = await chunked(Infinity)
      const ids = [...fixture.promptIds, ...fixture.decodeIds]
      const onePass = whole.prefillFromScratch(ids, { allLogits: true })
      for (const size of chunkSizes(whole.config.slidingWindow)) {
        const model = await chunked(size)
        const { state, logits } = model.prefillFromScratch(ids, { allLogits: true })
        expectSame(logits, onePass.logits, backend, `logits, chunks of ${size}`)
        expectSameState(state, onePass.state, backend)
        expectSameState(model.newState(), whole.newState(), backend)
      }
    })

    it('chunked append equals decoding token by token', async () => {
      const ids = [...fixture.decodeIds, ...fixture.decodeIds, ...fixture.promptIds]
      const whole = await chunked(Infinity)
      const stepwise = whole.newState()
      whole.prefill(stepwise, fixture.promptIds.slice(0, 3))
      const V = whole.config.vocabSize
      const expected = new Float32Array(ids.length * V)
      ids.forEach((id, t) => expected.set(whole.decode(stepwise, id), t * V))
      for (const size of chunkSizes(whole.config.slidingWindow)) {
        const model = await chunked(size)
        const state = model.newState()
        model.prefill(state, fixture.promptIds.slice(0, 3))
        expectSame(model.append(state, ids, { allLogits: true }), expected, backend, `chunks of ${size}`)
        expectSameState(state, stepwise, backend)
      }
    })

    it('serialize → restore in the middle of decoding continues bit-identically', async () => {
      const model = await modelFor(name)
      const state = model.newState()
      model.prefill(state, fixture.promptIds)
      const half = fixture.decodeIds.length >> 1
      for (const id of fixture.decodeIds.slice(0, half)) model.decode(state, id)
      const restored = model.restoreState(state.serialize())
      assert.equal(restored.textTokens, state.textTokens)
      for (const id of fixture.decodeIds.slice(half)) assert.deepEqual(model.decode(restored, id), model.decode(state, id))
      assert.deepEqual(restored.serialize(), state.serialize())
    })

    it('fork() is independent of its parent', async () => {
      const model = await modelFor(name)
      const parent = model.newState()
      model.prefill(parent, fixture.promptIds)
      const before = parent.serialize()
      const child = parent.fork()
      model.decode(child, fixture.decodeIds[0])
      assert.deepEqual(parent.serialize(), before)
      assert.equal(child.textTokens, parent.textTokens + 1)
    })

    it('caches grow with use: a new state holds little more than the meta entries', async () => {
      const model = await modelFor(name)
      const { numMetaTokens: M } = model.config
      const state = model.newState()
      for (const layer of state.layers) if (layer.kv) assert.ok(layer.kv.length === M && layer.kv.capacity <= M + 16, `${layer.kv.length} rows, capacity ${layer.kv.capacity}`)
    })

    it('sliding-window caches never hold more than M + W entries', async () => {
      const model = await modelFor(name)
      const { numMetaTokens: M, slidingWindow: W } = model.config
      const state = model.newState()
      model.prefill(state, [...fixture.promptIds, ...fixture.promptIds].slice(0, W + 7))
      for (let i = 0; i < W + 3; i++) model.decode(state, fixture.decodeIds[i % fixture.decodeIds.length])
      for (const [i, layer] of state.layers.entries()) {
        if (!layer.kv) continue
        const plan = model.config.layers[i]
        if (plan.window === 'sliding') assert.ok(layer.kv.capacity === M + W && layer.kv.length === M + W, `layer ${i}: ${layer.kv.length} rows, capacity ${layer.kv.capacity}`)
        else assert.equal(layer.kv.length, M + state.textTokens)
      }
    })
  })
}

describe('state bytes', () => {
  it('refuses corrupt, truncated and foreign states', async () => {
    const a = await modelOn('ts', 'A')
    const b = await modelOn('ts', 'B')
    const state = a.newState()
    a.prefill(state, [5, 6, 7])
    const bytes = state.serialize()
    const flipped = bytes.slice()
    flipped[bytes.length >> 1] ^= 1
    assert.throws(() => a.restoreState(flipped), /checksum/)
    assert.throws(() => a.restoreState(bytes.subarray(0, bytes.length - 9)), /checksum|truncated/)
    assert.throws(() => b.restoreState(bytes), /another model/)
    assert.throws(() => a.restoreState(new Uint8Array(8)), /truncated/)
  })
})

describe('chunked prefill with a global consumer of a sliding producer', () => {
  // Not in any released config (spec §3.1: groups are SWA only), but allowed by kv_reuse_group: the
  // consumer masks globally (spec §3.3) over keys its sliding producer's ring no longer holds once a
  // chunk is past W, so such a model prefills in one pass.
  it('equals the one-pass prefill', async () => {
    const folder = folderSource(fixtureDir('A'))
    const source = {
      ...folder,
      name: folder.name,
      read: async (file: string) => {
        if (file !== 'config.json') return folder.read(file)
        const config = JSON.parse(new TextDecoder().decode(await folder.read(file)))
        return new TextEncoder().encode(JSON.stringify({ ...config, global_attn_idx: [...config.global_attn_idx, 3] })) // layer 3 reads layer 1's K/V
      },
    }
    const loaded = await loadModel(source, { kernels: createReferenceKernels() })
    assert.ok(loaded.config.layers[3].window === 'global' && loaded.config.layers[1].window === 'sliding')
    const fixture = readFixture('A')
    const ids = [...fixture.promptIds, ...fixture.decodeIds]
    const onePass = new HymbaModel(loaded.config, loaded.weights, loaded.kernels, { chunkTokens: Infinity })
    const chunked = new HymbaModel(loaded.config, loaded.weights, loaded.kernels, { chunkTokens: 5 })
    assert.deepEqual(chunked.prefill(chunked.newState(), ids, { allLogits: true }), onePass.prefill(onePass.newState(), ids, { allLogits: true }))
  })
})

describe('backend memory order', () => {
  // A fixed memory fragments when a block that outlives a step (a cache growing) is allocated while
  // the step's scratch is live: first fit puts it above the scratch, in the middle of what becomes
  // free again when the step ends (issue 3: workerd refused 1 MiB with 1.9 MiB free).
  it('nothing that outlives a step is allocated while the step holds scratch', async () => {
    const reference = createReferenceKernels()
    const events: Array<{ buffer: Float32Array; freed: boolean }> = []
    const kernels = {
      ...reference,
      alloc: (length: number) => {
        const buffer = reference.alloc(length)
        events.push({ buffer, freed: false })
        return buffer
      },
      free: (buffer: Float32Array) => events.push({ buffer, freed: true }),
    }
    const loaded = await loadModel(folderSource(fixtureDir('A')), { kernels })
    // one pass per step, so a cache grows at most once in it and whatever the step frees is scratch
    // (with chunks, the block a cache outgrows in a later chunk is freed too); the chunk loop is the same code
    const model = new HymbaModel(loaded.config, loaded.weights, kernels, { chunkTokens: Infinity })
    const fixture = readFixture('A')
    const state = model.newState()
    const steps: Array<[string, () => unknown]> = [
      ['prefill', () => model.prefill(state, [...fixture.promptIds, ...fixture.promptIds])],
      ['append', () => model.append(state, fixture.decodeIds)],
      ...fixture.decodeIds.map((id, i): [string, () => unknown] => [`decode ${i}`, () => model.decode(state, id)]),
    ]
    for (const [what, step] of steps) {
      events.length = 0
      step()
      const freedAt = new Map(events.flatMap((e, i) => (e.freed ? [[e.buffer, i] as const] : [])))
      let grown = 0
      events.forEach((e, i) => {
        if (e.freed || freedAt.has(e.buffer)) return // freed within the step: scratch
        grown++
        const live = events.filter((t, j) => !t.freed && j < i && (freedAt.get(t.buffer) ?? -1) > i)
        assert.equal(live.length, 0, `${what}: a buffer that outlives the step was allocated while ${live.length} scratch buffers were live`)
      })
      if (what === 'prefill') assert.ok(grown > 0, 'the prefill grows the caches (the case under test)')
    }
  })
})

describe('one-token step memory', () => {
  // src/model.ts StepMemory: one-token steps bump-allocate from one block sized by the first of them
  it('decode reuses one block; a backend that cannot spare it serves the steps buffer by buffer, with the same logits', async () => {
    const reference = createReferenceKernels()
    let refuse = -1 // a length the backend refuses, as if out of memory
    const allocs: number[] = []
    const kernels = {
      ...reference,
      alloc: (length: number) => {
        if (length === refuse) throw new Error(`out of memory: ${length} floats`)
        allocs.push(length)
        return reference.alloc(length)
      },
    }
    const loaded = await loadModel(folderSource(fixtureDir('A')), { kernels })
    const fixture = readFixture('A')
    const run = (model: HymbaModel) => {
      const state = model.newState()
      model.prefill(state, fixture.promptIds)
      const perStep: number[] = []
      const logits = fixture.decodeIds.map((id) => {
        allocs.length = 0
        const out = model.decode(state, id)
        perStep.push(allocs.length)
        return out
      })
      return { logits, perStep }
    }
    const withBlock = run(new HymbaModel(loaded.config, loaded.weights, kernels))
    assert.ok(withBlock.perStep[0] > 1, 'the first step takes its buffers from the backend')
    assert.deepEqual(withBlock.perStep.slice(1), withBlock.perStep.slice(1).map(() => 0), 'later steps allocate nothing')
    // refuse the block (the first step's last allocation, the sum of its buffers)
    const model = new HymbaModel(loaded.config, loaded.weights, kernels)
    const probe = model.newState()
    allocs.length = 0
    model.decode(probe, fixture.decodeIds[0])
    refuse = allocs[allocs.length - 1]
    assert.ok(refuse > Math.max(...allocs.slice(0, -1)), 'the block is larger than any one buffer')
    const blockless = new HymbaModel(loaded.config, loaded.weights, kernels)
    const without = run(blockless)
    assert.ok(without.perStep.every((n) => n > 1), `every step allocates: ${without.perStep}`)
    without.logits.forEach((l, i) => assert.deepEqual(l, withBlock.logits[i], `decode ${i}`))
  })
})

describe('generate', () => {
  it('without logprobs: the same tokens, no log-probabilities; with them: log softmax of the logits', async () => {
    const model = await modelOn('ts', 'A')
    const ids = [1, 5, 9, 2]
    const run = async (logprobs: boolean) => {
      const state = model.newState()
      const logits = model.prefill(state, ids)
      const first = logSoftmax(logits)
      const out: GeneratedToken[] = []
      for await (const t of generate(model, state, logits, { maxTokens: 6, temperature: 0.8, seed: 4, logprobs, topLogprobs: 2, stopTokenIds: [] })) out.push(t)
      state.dispose()
      return { out, first }
    }
    const on = await run(true)
    const off = await run(false)
    assert.deepEqual(off.out.map((t) => t.id), on.out.map((t) => t.id))
    for (const t of off.out) assert.deepEqual(Object.keys(t), ['id'])
    assert.equal(on.out[0].logprob, on.first[on.out[0].id])
    assert.deepEqual(on.out[0].top?.map((t) => t.logprob), [...on.first].sort((a, b) => b - a).slice(0, 2))
  })
})
