// End-to-end timing of one loaded model (issue 3, `npm run bench`): prefill, decode, time to first
// token with and without the precomputed meta prefix, state size, and the decode roofline from the
// model's own FLOP and byte counts. Portable: runs in Node (scripts/bench.ts) and inside workerd
// (scripts/bench-worker.ts), so it reads no clock but performance.now and imports no Node built-in.
// Owns: measureModel, measureModels, decodeCounts.
// Must not import: worker/, Node built-ins, a backend.
import type { Matrix } from '../src/backend.ts'
import type { HymbaModel } from '../src/model.ts'
import { Sampler } from '../src/sampling.ts'

export interface E2eOptions {
  readonly promptTokens: number // P
  readonly decodeTokens: number // D
  readonly repetitions: number // medians over this many runs
  /** The backend's wasm high-water mark so far (allocator.peakBytes), read before the from-scratch run. */
  readonly peakBytes?: () => number
  /** A second clock in ms, e.g. process CPU time in Node: decode is also timed with it (decodeCpuMsPerToken). */
  readonly cpuClock?: () => number
}

export interface DecodeCounts {
  readonly flops: number // per decode token, at the bench's context length
  readonly bytes: number // weights + K/V + recurrent state touched per decode token
  readonly weightBytes: number // all prepared matrices (the embedding counted once)
}

export interface E2eResult {
  readonly promptTokens: number
  readonly decodeTokens: number
  readonly prefillMs: number // newState() + prefill(P), median
  readonly prefillTokensPerS: number
  readonly decodeMsPerToken: number // median over runs of (D decode steps) / D
  readonly decodeTokensPerS: number
  readonly decodeCpuMsPerToken?: number // the same median on options.cpuClock
  readonly decodeBestMsPerToken: number // the fastest run's (D decode steps) / D: the least disturbed by other load
  readonly decodeCpuBestMsPerToken?: number // the same on options.cpuClock
  readonly ttftMetaPrefixMs: number // newState() + prefill: the shipped path
  readonly ttftFromScratchMs: number // prefillFromScratch: meta tokens recomputed with the prompt (one run); NaN when it failed
  readonly fromScratchError?: string // e.g. out of wasm memory
  readonly shippedPeakBytes?: number // wasm high-water after load, prefill and decode on the meta-prefix path (the shipped one)
  readonly stateBytes: number // HymbaState.byteLength after P + D tokens
  readonly counts: DecodeCounts
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]

/** Deterministic token ids in [3, vocab): a prompt with no special tokens. */
export function promptIds(n: number, vocab: number, seed = 1): number[] {
  let a = seed >>> 0
  const ids: number[] = []
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a ^ (a >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0
    ids.push(3 + (a % (vocab - 3)))
  }
  return ids
}

/**
 * FLOPs and bytes of one decode step at context length S (packed: M meta + text tokens): 2·rows·cols
 * per matrix (lm_head once; the embedding lookup reads one row), attention 2·S·(hd + vd) per head
 * over the keys its window sees, the SSM scan ≈ 10·E·N. Bytes: every prepared matrix, the K/V rows
 * read, conv + SSM state read and written.
 */
export function decodeCounts(model: HymbaModel, context: number): DecodeCounts {
  const c = model.config
  const w = model.weights
  let flops = 0
  let bytes = 0
  const mat = (m: Matrix | null) => {
    if (!m) return
    flops += 2 * m.rows * m.cols
    bytes += m.bytes
  }
  for (const l of w.layers) {
    for (const m of [l.inProj, l.xProj, l.dtProj, l.outProj, l.gateProj, l.upProj, l.downProj]) mat(m)
    const window = l.plan.window === 'global' ? context : Math.min(context, c.numMetaTokens + c.slidingWindow)
    flops += 2 * window * (c.headDim + c.valueHeadDim) * c.numHeads
    bytes += window * c.numKvHeads * (c.headDim + c.valueHeadDim) * 4
    flops += 10 * c.innerSize * c.ssmStateSize
    bytes += 2 * 4 * c.innerSize * (c.ssmStateSize + c.convKernel)
  }
  mat(w.lmHead)
  let weightBytes = w.lmHead.bytes + (w.embed === w.lmHead ? 0 : w.embed.bytes)
  for (const l of w.layers) for (const m of [l.inProj, l.xProj, l.dtProj, l.outProj, l.gateProj, l.upProj, l.downProj]) weightBytes += m?.bytes ?? 0
  return { flops, bytes, weightBytes }
}

/** Times prefill, decode and both TTFT paths on `model`: the median and the fastest of `repetitions` runs. */
export function measureModel(model: HymbaModel, options: E2eOptions): E2eResult {
  return measureModels([{ model, peakBytes: options.peakBytes }], options)[0]
}

/**
 * measureModel for several models with their runs interleaved: run r of every model, then run r + 1
 * of every model. On a shared machine whose speed moves for seconds at a time, a slow phase then
 * falls on all the rows alike instead of on whichever row it met, and each row's fastest run comes
 * from the same quiet moments as the others'.
 */
export function measureModels(entries: ReadonlyArray<{ readonly model: HymbaModel; readonly peakBytes?: () => number }>, options: Omit<E2eOptions, 'peakBytes'>): E2eResult[] {
  const timings = entries.map((e) => new ModelTiming(e.model, options))
  for (const t of timings) t.warmUp()
  for (let r = 0; r < options.repetitions; r++) for (const t of timings) t.run()
  return timings.map((t, i) => t.finish(entries[i].peakBytes?.()))
}

/** One model's runs: an untimed warm-up, timed runs (prefill P, then D greedy decode steps), then the from-scratch TTFT. */
class ModelTiming {
  private readonly ids: number[]
  private readonly prefill: number[] = []
  private readonly decode: number[] = []
  private readonly decodeCpu: number[] = []
  private stateBytes = 0
  /** Greedy picks as generate() makes them: the backend's argmax. */
  private readonly greedy: Sampler

  constructor(
    private readonly model: HymbaModel,
    private readonly options: Omit<E2eOptions, 'peakBytes'>,
  ) {
    this.ids = promptIds(options.promptTokens, model.config.vocabSize)
    this.greedy = new Sampler({ temperature: 0 }, model.kernels)
  }

  /** One untimed pass of each path (JIT, first touch of scratch memory). */
  warmUp(): void {
    const { model, ids } = this
    const s = model.newState()
    model.decode(s, this.greedy.sample(model.prefill(s, ids.slice(0, 8))))
    s.dispose()
    model.prefillFromScratch(ids.slice(0, 8)).state.dispose()
  }

  run(): void {
    const { model, ids } = this
    const D = this.options.decodeTokens
    const cpu = this.options.cpuClock
    let t0 = performance.now()
    const state = model.newState()
    let next = this.greedy.sample(model.prefill(state, ids))
    this.prefill.push(performance.now() - t0)
    t0 = performance.now()
    const c0 = cpu?.() ?? 0
    for (let i = 0; i < D; i++) next = this.greedy.sample(model.decode(state, next))
    this.decode.push((performance.now() - t0) / D)
    if (cpu) this.decodeCpu.push((cpu() - c0) / D)
    this.stateBytes = state.byteLength
    state.dispose()
  }

  /**
   * The row, after the runs. shippedPeakBytes: the wasm high-water mark so far (read before the
   * from-scratch run). The path without the precomputed prefix costs ~(M + P) / P prefills: timed
   * once, to keep the whole bench within a few minutes on 2 cores. Its passes are chunked like the
   * shipped path's (src/model.ts), so its scratch does not grow with M + P; a tight memory budget may
   * still run out.
   */
  finish(shippedPeakBytes: number | undefined): E2eResult {
    const { model, ids, prefill, decode, decodeCpu, stateBytes } = this
    const { promptTokens: P, decodeTokens: D } = this.options
    const cpu = this.options.cpuClock
    let fromScratchMs = NaN
    let fromScratchError: string | undefined
    try {
      const t0 = performance.now()
      const fresh = model.prefillFromScratch(ids)
      this.greedy.sample(fresh.logits)
      fromScratchMs = performance.now() - t0
      fresh.state.dispose()
    } catch (e) {
      fromScratchError = String(e).split('\n')[0]
    }
    const prefillMs = median(prefill)
    const decodeMs = median(decode)
    return {
      promptTokens: P,
      decodeTokens: D,
      prefillMs,
      prefillTokensPerS: (P / prefillMs) * 1e3,
      decodeMsPerToken: decodeMs,
      decodeTokensPerS: 1e3 / decodeMs,
      ...(cpu ? { decodeCpuMsPerToken: median(decodeCpu), decodeCpuBestMsPerToken: Math.min(...decodeCpu) } : {}),
      decodeBestMsPerToken: Math.min(...decode),
      ttftMetaPrefixMs: prefillMs,
      ttftFromScratchMs: fromScratchMs,
      ...(fromScratchError === undefined ? {} : { fromScratchError }),
      ...(shippedPeakBytes === undefined ? {} : { shippedPeakBytes }),
      stateBytes,
      counts: decodeCounts(model, model.config.numMetaTokens + P + D / 2),
    }
  }
}
