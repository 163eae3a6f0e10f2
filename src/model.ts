// The Hymba forward pass (spec §2–§3): embedding, decoder layers with attention and SSM heads in
// parallel, final norm and tied lm_head; prefill, decode and append on an explicit HymbaState, and
// the meta-token prefix computed once per model. Long inputs run through the layers in chunks of
// `chunkTokens` rows, so scratch memory does not grow with the prompt (issue 3, 128 MB).
// Must not import: worker/, Node built-ins, any backend (kernels come in through `Kernels`).
import type { Kernels } from './backend.ts'
import type { HymbaConfig } from './config.ts'
import { inProjSplit } from './config.ts'
import { InvalidInput } from './errors.ts'
import { HymbaState, crc32 } from './state.ts'
import type { LayerWeights, ModelWeights } from './weights.ts'
import { attentionSpan, type WindowRule } from './window.ts'

/** Receives the residual stream entering each layer (and after the final norm, layer = numLayers). */
export type HiddenTrace = (layer: number, rows: Float32Array, T: number) => void

export interface ForwardOptions {
  /** Logits for every input row ([T, V]) instead of the last one only ([V]). */
  readonly allLogits?: boolean
  /** Sees whole layers: a traced pass runs in one chunk. */
  readonly trace?: HiddenTrace
}

export interface ModelOptions {
  /** Rows per pass through the layers (prefill, append, meta prefix); Infinity: the whole input at once. */
  readonly chunkTokens?: number
}

/** Enough rows for batched matmuls to pay off; scratch of 64 rows of the 140M model is ~6 MiB. */
const DEFAULT_CHUNK_TOKENS = 64

/** Floats per cache line: every arena buffer starts on one, as the backends' own blocks do. */
const LINE_FLOATS = 16

/**
 * Where a step's scratch comes from. A one-token step (decode) asks for the same few dozen small
 * buffers every token, and a backend round trip for each (alloc, zero, view, free) was a fifth of
 * the step's JS time; so one-token steps bump-allocate from one block instead, reset when the step
 * starts. The block is sized by the first one-token step, which takes its buffers from the backend
 * and measures them, and is reserved when that step has given them all back: it sits with the
 * long-lived blocks, not amid scratch (see the "backend memory order" test). Longer steps use the
 * backend, buffer by buffer, as before.
 */
class StepMemory {
  private block: Float32Array | null = null
  private oneToken = false
  private used = 0 // floats of the current one-token step, counted even where the block is short

  constructor(private readonly kernels: Kernels) {}

  beginStep(tokens: number): void {
    this.oneToken = tokens === 1
    this.used = 0
  }

  /** A zeroed buffer of `length` floats. */
  take(length: number): Float32Array {
    if (this.oneToken) {
      const start = this.used
      this.used += Math.ceil(length / LINE_FLOATS) * LINE_FLOATS
      if (this.block && this.used <= this.block.length) {
        const b = this.block.subarray(start, start + length)
        b.fill(0)
        return b
      }
    }
    return this.kernels.alloc(length)
  }

  give(b: Float32Array): void {
    if (!this.inBlock(b)) this.kernels.free(b)
  }

  /**
   * After a one-token step has given its buffers back: (re)size the block to what it used. Never
   * throws: the step has already updated its state, and a backend that cannot spare the block
   * (out of memory) keeps serving one-token steps buffer by buffer.
   */
  endStep(): void {
    if (!this.oneToken || this.used <= (this.block?.length ?? 0)) return
    if (this.block) this.kernels.free(this.block)
    this.block = null
    try {
      this.block = this.kernels.alloc(this.used)
    } catch {
      // the only failure of alloc with a positive length is memory
    }
  }

  private inBlock(b: Float32Array): boolean {
    const block = this.block
    return block !== null && b.buffer === block.buffer && b.byteOffset >= block.byteOffset && b.byteOffset < block.byteOffset + block.byteLength
  }
}

/** Buffers of one forward step, given back when the step ends. */
class Scratch {
  private readonly buffers: Float32Array[] = []
  constructor(private readonly memory: StepMemory) {}
  f32(length: number): Float32Array {
    const b = this.memory.take(length)
    this.buffers.push(b)
    return b
  }
  release(): void {
    for (const b of this.buffers) this.memory.give(b)
    this.buffers.length = 0
  }
}

/** K/V visible to a layer during one step; consumers read their producer's. */
interface KvView {
  readonly keys: Float32Array // [S, nkv·hd]
  readonly values: Float32Array // [S, nkv·vd]
  readonly positions: Int32Array // [S]
  readonly length: number // S
  readonly window: 'global' | 'sliding' // the producer's
}

export class HymbaModel {
  readonly invFreq: Float32Array // [hd/2]
  /** Identifies these weights; states carry it so they are never restored into another model. */
  readonly fingerprint: number
  readonly chunkTokens: number
  /** Per layer: the last layer that reads its K/V (itself, or its last consumer). */
  private readonly lastReader: readonly number[]
  private readonly metaPrefix: HymbaState
  private readonly stepMemory: StepMemory

  constructor(
    readonly config: HymbaConfig,
    readonly weights: ModelWeights,
    readonly kernels: Kernels,
    options: ModelOptions = {},
  ) {
    this.chunkTokens = options.chunkTokens ?? DEFAULT_CHUNK_TOKENS
    this.stepMemory = new StepMemory(kernels)
    if (!(this.chunkTokens >= 1 && (Number.isInteger(this.chunkTokens) || this.chunkTokens === Infinity))) throw new RangeError(`chunkTokens ${this.chunkTokens} is not a positive integer or Infinity`)
    this.lastReader = config.layers.map((p) => Math.max(p.index, ...config.layers.filter((l) => !l.kv.produce && l.kv.borrowFrom === p.index).map((l) => l.index)))
    this.invFreq = ropeInverseFrequencies(config.ropeBase, config.headDim)
    this.fingerprint = crc32(new Uint8Array(weights.metaTokens.buffer, weights.metaTokens.byteOffset, weights.metaTokens.byteLength), crc32(new TextEncoder().encode(JSON.stringify(config))))
    this.metaPrefix = this.computeMetaPrefix()
  }

  /** A new sequence: a private copy of the shared meta-token prefix state (spec §2.1). */
  newState(): HymbaState {
    return this.metaPrefix.fork()
  }

  /** The state after the M meta tokens alone: depends only on the weights, computed once. */
  private computeMetaPrefix(): HymbaState {
    const state = HymbaState.empty(this.kernels, this.config, this.fingerprint)
    const H = this.config.hiddenSize
    const M = this.config.numMetaTokens
    if (M > 0) this.run(state, M, 0, 'prefill', (x, from, n) => x.set(this.weights.metaTokens.subarray(from * H, (from + n) * H)), {}, null)
    return state
  }

  /** Prompt on a fresh state (prefill window rule). Logits of the last token [V], or [P, V]. */
  prefill(state: HymbaState, ids: readonly number[], options: ForwardOptions = {}): Float32Array {
    if (state.textTokens !== 0) throw new InvalidInput('prefill needs a fresh state; use append() to continue a sequence')
    return this.forward(state, ids, 'prefill', options)
  }

  /** A chunk on top of a state, batched, with the decode window rule: equals decode() one by one. */
  append(state: HymbaState, ids: readonly number[], options: ForwardOptions = {}): Float32Array {
    return this.forward(state, ids, 'decode', options)
  }

  /** One token through the cache (spec §3.4). Logits [V]. */
  decode(state: HymbaState, id: number): Float32Array {
    return this.forward(state, [id], 'decode', {})
  }

  /** The reference's one-shot prefill: meta tokens and prompt in one pass from an empty state (for tests). */
  prefillFromScratch(ids: readonly number[], options: ForwardOptions = {}): { state: HymbaState; logits: Float32Array } {
    const { hiddenSize: H, numMetaTokens: M } = this.config
    this.checkIds(ids)
    const state = HymbaState.empty(this.kernels, this.config, this.fingerprint)
    // packed rows: M meta tokens, then the prompt; spec §2.1: the meta rows are dropped after the final norm
    const fill = (x: Float32Array, from: number, n: number) => {
      const meta = Math.max(0, Math.min(M - from, n))
      x.set(this.weights.metaTokens.subarray(from * H, (from + meta) * H))
      if (meta < n) this.kernels.gatherRows(x.subarray(meta * H), this.weights.embed, ids.slice(from + meta - M, from + n - M))
    }
    const logits = this.run(state, M + ids.length, 0, 'prefill', fill, options, this.logitsFor(ids.length, options))
    return { state, logits }
  }

  restoreState(bytes: Uint8Array): HymbaState {
    return HymbaState.deserialize(bytes, this.kernels, this.config, this.fingerprint)
  }

  private checkIds(ids: readonly number[]): void {
    if (ids.length === 0) throw new InvalidInput('no tokens given')
    for (const id of ids)
      if (!Number.isInteger(id) || id < 0 || id >= this.config.vocabSize) throw new InvalidInput(`token id ${id} is outside the vocabulary [0, ${this.config.vocabSize})`)
  }

  private forward(state: HymbaState, ids: readonly number[], rule: WindowRule, options: ForwardOptions): Float32Array {
    state.assertLive()
    this.checkIds(ids)
    const fill = (x: Float32Array, from: number, n: number) => this.kernels.gatherRows(x, this.weights.embed, ids.slice(from, from + n))
    return this.run(state, ids.length, state.nextPosition, rule, fill, options, this.logitsFor(ids.length, options))
  }

  /** The logits of the last `text` rows ([text, V]) or of the last row ([V]). */
  private logitsFor(text: number, options: ForwardOptions): Float32Array {
    return new Float32Array((options.allLogits ? text : 1) * this.config.vocabSize)
  }

  /**
   * Rows [0, T) of the packed sequence at positions pos0… through the layers, chunk by chunk (each
   * chunk's input written by `fill(x, from, n)`), updating `state`; then the final norm and lm_head
   * for the rows `logits` holds: the last logits.length / V rows, or just the last row when it holds one.
   */
  private run(state: HymbaState, T: number, pos0: number, rule: WindowRule, fill: (x: Float32Array, from: number, n: number) => void, options: ForwardOptions, logits: Float32Array | null): Float32Array {
    const { hiddenSize: H, vocabSize: V, numMetaTokens: M } = this.config
    const chunk = options.trace || !this.chunkable(rule) ? T : this.chunkTokens
    const firstLogit = logits ? T - logits.length / V : T // rows before it need no lm_head
    for (const layer of state.layers) layer.kv?.reserveTo(pos0 + T) // long-lived growth, once, before any scratch
    for (let from = 0; from < T; from += chunk) {
      const n = Math.min(chunk, T - from)
      const pos = pos0 + from
      this.stepMemory.beginStep(n)
      const scratch = new Scratch(this.stepMemory)
      const x = scratch.f32(n * H) // [n, H]
      fill(x, from, n)
      this.layers(x, n, pos, state, rule, options.trace)
      state.textTokens += Math.max(0, pos + n - Math.max(pos, M)) // rows at positions ≥ M are text
      if (logits && from + n > firstLogit) {
        this.kernels.rmsNorm(x, x, this.weights.finalNorm, n, H, this.config.rmsNormEps)
        options.trace?.(this.config.numLayers, x, n)
        const first = Math.max(from, firstLogit) // lm_head over rows first … from + n − 1, straight into `logits`
        this.kernels.matmul(logits.subarray((first - firstLogit) * V), x.subarray((first - from) * H), this.weights.lmHead, from + n - first)
      }
      scratch.release()
      this.stepMemory.endStep()
    }
    return logits ?? new Float32Array(0)
  }

  /**
   * Whether chunks give the one-pass result. Decode rule: always (append equals decode one by one).
   * Prefill rule: a consumer masks with its own window over its producer's K/V (spec §3.3); a global
   * consumer of a sliding producer would need keys the producer's ring no longer holds.
   */
  private chunkable(rule: WindowRule): boolean {
    if (rule === 'decode') return true
    const layers = this.config.layers
    return layers.every((l) => l.kv.produce || l.window === 'sliding' || layers[l.kv.borrowFrom].window === 'global')
  }

  /** All decoder layers over x [T, H] at packed positions pos0…, updating `state`. */
  private layers(x: Float32Array, T: number, pos0: number, state: HymbaState, rule: WindowRule, trace?: HiddenTrace): void {
    const views = new Map<number, KvView>()
    // A layer's buffers go back to the backend when it ends, a producer's K/V view when its last
    // consumer ends: the peak is one layer's scratch and one group's view, not all layers' (issue 3).
    const local = new Scratch(this.stepMemory)
    const viewScratch = new Map<number, Scratch>() // producer → the buffers of its view
    for (const w of this.weights.layers) {
      trace?.(w.plan.index, x, T)
      const own = new Scratch(this.stepMemory)
      viewScratch.set(w.plan.index, own)
      this.layer(x, T, pos0, w, state, rule, views, local, own)
      local.release()
      for (const [producer, buffers] of viewScratch) {
        if (this.lastReader[producer] > w.plan.index) continue
        buffers.release()
        viewScratch.delete(producer)
        views.delete(producer)
      }
    }
  }

  /** One Hymba layer (spec §2.2–2.6): attention and SSM heads read the same input in parallel. */
  private layer(x: Float32Array, T: number, pos0: number, w: LayerWeights, state: HymbaState, rule: WindowRule, views: Map<number, KvView>, scratch: Scratch, viewScratch: Scratch): void {
    const k = this.kernels
    const c = this.config
    const { hiddenSize: H, innerSize: E } = c
    const eps = c.rmsNormEps
    const s = state.layers[w.plan.index]

    const h = scratch.f32(T * H)
    k.rmsNorm(h, x, w.inputNorm, T, H, eps)
    const split = inProjSplit(c, w.plan)
    const projected = scratch.f32(T * split.total) // [T, q|k|v|x|z]
    k.matmul(projected, h, w.inProj, T)
    if (w.inProjBias) k.addBias(projected, w.inProjBias, T, split.total)
    const [q, keys, values, u, z] = splitColumns(projected, T, [split.q, split.k, split.v, split.x, split.z], scratch)

    const attn = this.attentionHeads(q, keys, values, T, pos0, w, s.kv, rule, views, scratch, viewScratch) // [T, E]
    const ssm = this.mambaHeads(u, z, T, w, s.conv, s.ssm, scratch) // [T, E]

    // spec §2.6: fused = (norm1(attn) + norm2(ssm)) / 2, then out_proj
    k.rmsNorm(attn, attn, w.attnOutNorm, T, E, eps)
    k.rmsNorm(ssm, ssm, w.ssmOutNorm, T, E, eps)
    k.mean2(attn, attn, ssm, T * E)
    const mixed = scratch.f32(T * H)
    k.matmul(mixed, attn, w.outProj, T)
    if (w.outProjBias) k.addBias(mixed, w.outProjBias, T, H)
    k.addInto(x, mixed, T * H)

    if (w.mlpNorm && w.upProj && w.downProj) {
      const F = c.intermediateSize
      k.rmsNorm(h, x, w.mlpNorm, T, H, eps)
      const up = scratch.f32(T * F)
      k.matmul(up, h, w.upProj, T)
      if (c.mlpAct === 'silu') {
        const gate = scratch.f32(T * F)
        k.matmul(gate, h, w.gateProj!, T)
        k.siluMul(up, gate, up, T * F)
      } else {
        k.relu2(up, up, T * F) // spec §1.2: relu2 MLP is down(relu(up(x))²), no gate
      }
      k.matmul(mixed, up, w.downProj, T)
      k.addInto(x, mixed, T * H)
    }
  }

  /** Attention heads (spec §2.4): RoPE'd q against this layer's or its producer's K/V. */
  private attentionHeads(
    q: Float32Array, // [T, nh·hd]
    keys: Float32Array, // [T, nkv·hd] (producers)
    values: Float32Array, // [T, nkv·vd] (producers)
    T: number,
    pos0: number,
    w: LayerWeights,
    cache: HymbaState['layers'][number]['kv'],
    rule: WindowRule,
    views: Map<number, KvView>,
    scratch: Scratch,
    viewScratch: Scratch, // lives until the last consumer of this layer's K/V has run
  ): Float32Array {
    const k = this.kernels
    const c = this.config
    const { numHeads: nh, numKvHeads: nkv, headDim: hd } = c
    if (w.qNorm) this.kqNorm(q, w.qNorm, T, nh)
    if (c.rope) k.rope(q, T, nh, hd, pos0, this.invFreq)

    let view: KvView
    if (w.plan.kv.produce) {
      if (w.kNorm) this.kqNorm(keys, w.kNorm, T, nkv)
      if (c.rope) k.rope(keys, T, nkv, hd, pos0, this.invFreq)
      view = this.updateCache(cache!, keys, values, T, pos0, rule, viewScratch)
      views.set(w.plan.index, view)
    } else {
      view = views.get(w.plan.kv.borrowFrom)!
    }
    // spec §3.3: in prefill a consumer masks with its own layer type; in decode it sees all of its
    // producer's cache, i.e. the producer's window.
    const window = rule === 'prefill' ? w.plan.window : view.window
    const out = scratch.f32(T * c.innerSize)
    k.attention(out, q, view.keys, view.values, view.positions, {
      queries: T,
      keys: view.length,
      heads: nh,
      kvHeads: nkv,
      headDim: hd,
      valueDim: c.valueHeadDim,
      queryPos0: pos0,
      metaTokens: c.numMetaTokens,
      span: attentionSpan(window, c.slidingWindow, rule),
    })
    return out
  }

  /**
   * Store the new K/V and return what this step's queries attend over. One decoded token, or a
   * global cache: write first and read the cache (the ring slot overwritten holds a key the decode
   * rule hides). Otherwise (a sliding cache, a chunk or a prefill row that may see W back): attend
   * over old rows + new rows, then keep the last W.
   */
  private updateCache(cache: NonNullable<HymbaState['layers'][number]['kv']>, keys: Float32Array, values: Float32Array, T: number, pos0: number, rule: WindowRule, scratch: Scratch): KvView {
    if ((T === 1 && rule === 'decode') || cache.window === 'global') {
      cache.write(keys, values, T, pos0)
      return cache
    }
    const S = cache.length + T
    const allKeys = scratch.f32(S * cache.keyWidth)
    const allValues = scratch.f32(S * cache.valueWidth)
    const positions = new Int32Array(S)
    allKeys.set(cache.keys.subarray(0, cache.length * cache.keyWidth))
    allKeys.set(keys, cache.length * cache.keyWidth)
    allValues.set(cache.values.subarray(0, cache.length * cache.valueWidth))
    allValues.set(values, cache.length * cache.valueWidth)
    positions.set(cache.positions.subarray(0, cache.length))
    for (let t = 0; t < T; t++) positions[cache.length + t] = pos0 + t
    cache.write(keys, values, T, pos0)
    return { keys: allKeys, values: allValues, positions, length: S, window: cache.window }
  }

  /** kq_norm "rms" (one weight [hd] for all heads) or "perhead-rms" (weights [heads, hd]). */
  private kqNorm(x: Float32Array, weight: Float32Array, T: number, heads: number): void {
    const hd = this.config.headDim
    if (weight.length === hd) {
      this.kernels.rmsNorm(x, x, weight, T * heads, hd, 1e-6)
      return
    }
    for (let t = 0; t < T; t++)
      for (let h = 0; h < heads; h++) {
        const row = x.subarray((t * heads + h) * hd, (t * heads + h + 1) * hd)
        this.kernels.rmsNorm(row, row, weight.subarray(h * hd, (h + 1) * hd), 1, hd, 1e-6)
      }
  }

  /** Mamba heads (spec §2.5): causal conv → x_proj → dt/B/C norms → dt_proj → selective scan. */
  private mambaHeads(u: Float32Array, z: Float32Array, T: number, w: LayerWeights, conv: Float32Array, ssm: Float32Array, scratch: Scratch): Float32Array {
    const k = this.kernels
    const { innerSize: E, ssmStateSize: N, dtRank: R, convKernel: K, rmsNormEps: eps } = this.config
    const xc = scratch.f32(T * E)
    k.causalConv(xc, u, conv, w.convWeight, w.convBias, T, E, K)
    const xProjected = scratch.f32(T * (R + 2 * N))
    k.matmul(xProjected, xc, w.xProj, T)
    const [dtIn, B, C] = splitColumns(xProjected, T, [R, N, N], scratch)
    if (w.dtNorm) k.rmsNorm(dtIn, dtIn, w.dtNorm, T, R, eps)
    if (w.bNorm) k.rmsNorm(B, B, w.bNorm, T, N, eps)
    if (w.cNorm) k.rmsNorm(C, C, w.cNorm, T, N, eps)
    const dt = scratch.f32(T * E)
    k.matmul(dt, dtIn, w.dtProj, T) // bias is added inside the scan (spec §2.5)
    const y = scratch.f32(T * E)
    k.selectiveScan(y, ssm, xc, dt, w.dtBias, w.A, B, C, w.D, z, T, E, N)
    return y
  }
}

/** Split rows [T, Σ widths] into contiguous [T, width] blocks: views of the one row when T = 1 (decode). */
function splitColumns(rows: Float32Array, T: number, widths: number[], scratch: Scratch): Float32Array[] {
  const total = widths.reduce((a, b) => a + b, 0)
  let offset = 0
  return widths.map((width) => {
    if (T === 1) return rows.subarray(offset, (offset += width))
    const part = scratch.f32(T * width)
    for (let t = 0; t < T; t++) part.set(rows.subarray(t * total + offset, t * total + offset + width), t * width)
    offset += width
    return part
  })
}

/** inv_freq[j] = 1 / base^(2j/hd), in float32 as the reference computes it (spec §2.4). */
export function ropeInverseFrequencies(base: number, headDim: number): Float32Array {
  const out = new Float32Array(headDim / 2)
  for (let j = 0; j < headDim / 2; j++) out[j] = Math.fround(1 / Math.fround(Math.pow(base, Math.fround((2 * j) / headDim))))
  return out
}
