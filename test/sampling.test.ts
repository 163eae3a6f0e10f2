// Sampling (src/sampling.ts): a draw's candidates against the definition (top-k: the k largest
// logits; top-p: the shortest prefix of the tokens by decreasing logit, ties by id, whose
// probability reaches top_p), checked on random logits with many ties; the draws' frequencies
// against the probabilities; greedy, seeds and bad logits.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { argmax, candidates, logSoftmax, logSumExp, Sampler } from '../src/sampling.ts'
import { createWasmKernels } from '../wasm/loader.ts'

/** Every id by decreasing logit, ties by id: the order the definitions above are stated in. */
const byLogit = (logits: number[]) => logits.map((_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b)
const weightsOf = (logits: number[], ids: number[], T: number) => ids.map((i) => Math.exp((logits[i] - Math.max(...logits)) / T))
const sum = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0)

describe('sampling', () => {
  // integers / 4 in [−6, 6]: many equal logits, so ties at the top-k and top-p boundaries are common
  const logitsArb = fc.array(fc.integer({ min: -24, max: 24 }).map((v) => v / 4), { minLength: 1, maxLength: 120 })
  const optionsArb = fc.record({
    T: fc.constantFrom(0.25, 0.7, 1, 1.6),
    topK: fc.constantFrom(0, 1, 2, 5, 40, 1000),
    topP: fc.constantFrom(1, 0.05, 0.3, 0.5, 0.9, 0.999),
  })

  it('candidates are the k largest, then the shortest prefix by decreasing logit reaching top_p', () => {
    fc.assert(
      fc.property(logitsArb, optionsArb, (logits, { T, topK, topP }) => {
        const c = candidates(Float32Array.from(logits), T, topK, topP)
        const order = byLogit(logits)
        const truncatedK = topK > 0 && topK < logits.length
        const pool = truncatedK ? order.slice(0, topK) : order
        if (!truncatedK && topP >= 1) {
          assert.equal(c.ids, null)
          assert.equal(c.weights.length, logits.length)
        }
        const ids = c.ids ? Array.from(c.ids) : logits.map((_, i) => i)
        // the kept set is a prefix of the pool
        const m = ids.length
        assert.deepEqual([...ids].sort((a, b) => a - b), pool.slice(0, m).sort((a, b) => a - b))
        // weights: e^((logit − max) / T), exactly; mass their sum
        assert.deepEqual(Array.from(c.weights), weightsOf(logits, ids, T))
        assert.ok(Math.abs(c.mass - sum(c.weights)) <= 1e-12 * c.mass)
        // top-p: the prefix reaches top_p of the pool's mass, one token less does not (1e-9: summation order)
        const poolMass = sum(weightsOf(logits, pool, T))
        const prefixMass = (k: number) => sum(weightsOf(logits, pool.slice(0, k), T))
        if (topP < 1) {
          assert.ok(prefixMass(m) >= topP * poolMass * (1 - 1e-9), `prefix of ${m} reaches ${topP}`)
          assert.ok(m === 1 || prefixMass(m - 1) < topP * poolMass * (1 + 1e-9), `prefix of ${m - 1} already reaches ${topP}`)
        } else assert.equal(m, pool.length)
      }),
      { seed: 20261129, numRuns: 600 },
    )
  })

  it('top_p over a 32001-token vocabulary keeps the same tokens as sorting it', () => {
    const random = fc.sample(fc.double({ min: -12, max: 12, noNaN: true }), { seed: 7, numRuns: 32001 })
    const logits = random.map((v, i) => (i % 97 === 0 ? 9 : v)) // some equal logits at the top
    for (const [T, topP] of [[1, 0.95], [0.7, 0.9], [1.3, 0.5]]) {
      const c = candidates(Float32Array.from(logits), T, 0, topP)
      const f32 = Array.from(Float32Array.from(logits))
      const order = byLogit(f32)
      const w = weightsOf(f32, order, T)
      const total = sum(w)
      let mass = 0
      let keep = order.length
      for (let j = 0; j < order.length; j++) {
        mass += w[j] / total
        if (mass >= topP) {
          keep = j + 1
          break
        }
      }
      assert.deepEqual(Array.from(c.ids!).sort((a, b) => a - b), order.slice(0, keep).sort((a, b) => a - b), `T ${T}, top_p ${topP}`)
    }
  })

  it('draws follow the probabilities (untruncated, top_k, top_p)', () => {
    const logits = Float32Array.from([2, 1, 0.5, 0, -1, -3])
    const N = 40_000
    const cases: Array<[string, { temperature?: number; topK?: number; topP?: number }, number[]]> = [
      ['all', {}, [0, 1, 2, 3, 4, 5]],
      ['T 0.5', { temperature: 0.5 }, [0, 1, 2, 3, 4, 5]],
      ['top_k 2', { topK: 2 }, [0, 1]],
      ['top_p 0.6', { topP: 0.6 }, [0, 1]], // softmax: 0.53, 0.20, … → the first two reach 0.6
      ['top_k 3, top_p 0.9', { topK: 3, topP: 0.9 }, [0, 1, 2]],
    ]
    for (const [name, options, support] of cases) {
      const T = options.temperature ?? 1
      const w = support.map((i) => Math.exp(logits[i] / T))
      const p = new Map(support.map((id, j) => [id, w[j] / sum(w)]))
      const sampler = new Sampler({ ...options, seed: 11 })
      const counts = new Map<number, number>()
      for (let n = 0; n < N; n++) {
        const id = sampler.sample(logits)
        counts.set(id, (counts.get(id) ?? 0) + 1)
      }
      for (const id of counts.keys()) assert.ok(p.has(id), `${name}: drew ${id}, outside ${support}`)
      for (const [id, pi] of p) {
        const f = (counts.get(id) ?? 0) / N
        assert.ok(Math.abs(f - pi) < 5 * Math.sqrt((pi * (1 - pi)) / N) + 1e-9, `${name}: token ${id} drawn ${f.toFixed(4)}, p ${pi.toFixed(4)}`)
      }
    }
  })

  it('temperature 0 is argmax (first of equal maxima); a seed reproduces draws', () => {
    const logits = Float32Array.from([0.5, 3, -1, 3, 2])
    assert.equal(new Sampler({ temperature: 0 }).sample(logits), 1)
    assert.equal(argmax(logits), 1)
    const draw = (seed: number) => {
      const s = new Sampler({ seed, topP: 0.99 })
      return Array.from({ length: 50 }, () => s.sample(logits))
    }
    assert.deepEqual(draw(5), draw(5))
    assert.notDeepEqual(draw(5), draw(6))
  })

  it('temperature 0 with a backend: its argmax (wasm) picks as the loop does', async () => {
    const kernels = await createWasmKernels({ relaxed: false, memoryBytes: 4 << 20 })
    const greedy = new Sampler({ temperature: 0 }, kernels)
    fc.assert(
      fc.property(logitsArb, (values) => {
        const logits = Float32Array.from(values)
        assert.equal(greedy.sample(logits), argmax(logits))
      }),
    )
    let calls = 0
    const counted = new Sampler({ temperature: 0 }, { argmax: (x, n) => (calls++, kernels.argmax(x, n)) })
    assert.equal(counted.sample(Float32Array.from([0.5, 3, -1, 3, 2])), 1)
    assert.equal(calls, 1)
    assert.equal(counted.sample([0.5, 3, -1, 4, 2]), 3) // not a Float32Array: the loop
    assert.equal(calls, 1)
  })

  it('NaN and −∞ logits: draws end and return a token id', () => {
    for (const logits of [Float32Array.from([1, NaN, -Infinity, 2, NaN]), Float32Array.from([NaN, -Infinity, NaN])]) {
      for (const options of [{}, { topP: 0.9 }, { topK: 2 }, { topK: 3, topP: 0.5 }]) {
        const id = new Sampler({ ...options, seed: 3 }).sample(logits)
        assert.ok(Number.isInteger(id) && id >= 0 && id < logits.length, `${logits} ${JSON.stringify(options)}: ${id}`)
      }
    }
  })

  it('logSumExp normalises: logits − logSumExp are log-probabilities', () => {
    const logits = Float32Array.from([3, -2, 0.25, 7, 7])
    const logZ = logSumExp(logits)
    assert.ok(Math.abs(sum(Array.from(logits, (l) => Math.exp(l - logZ))) - 1) < 1e-12)
    assert.deepEqual(Array.from(logSoftmax(logits)), Array.from(logits, (l) => l - logZ))
  })
})
