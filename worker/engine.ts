// Every call into the Hymba core (src/) that the worker makes: loading the embedded model once per
// isolate, tokenizing a turn's prompt, advancing states, and running generation as turn events
// (detokenized text, stop strings, logprobs). The session object and the stateless path share it.
// Must not import: hono, cloudflare:* (the Durable Object lives in session.ts).
import { generate } from '../src/generate.ts'
import { loadModel } from '../src/load.ts'
import type { HymbaModel } from '../src/model.ts'
import type { HymbaState } from '../src/state.ts'
import { HymbaTokenizer, TextStream } from '../src/tokenizer.ts'
import relaxedKernels from '../wasm/kernels-relaxed.wasm'
import simdKernels from '../wasm/kernels-simd.wasm'
import { createWasmKernelsFromModules } from '../wasm/loader.ts'
import { assetsSource } from './assets-source.ts'
import type { Env, Limits } from './env.ts'
import { ApiError } from './errors.ts'
import { StopMatcher } from './stop.ts'
import { TurnGate } from './turn-gate.ts'
import type { FinishReason, TokenChoice, TurnEvent, TurnParams, TurnPrompt } from './turn.ts'

export type { HymbaState }

/** What a turn's generation ended with, for the caller to commit. */
export interface TurnOutcome {
  readonly finishReason: FinishReason
  readonly generated: readonly number[] // every sampled id, the unfed last one included
}

export class Engine {
  /** A token decoded in front of a single token (textOf), so the token keeps its leading space. */
  private readonly anchor: number
  private readonly anchorText: string
  private readonly tokenText = new Map<number, string>()

  /** Turns of this isolate that may hold working states at once (MAX_TURNS_PER_ISOLATE). */
  private readonly gate: TurnGate

  constructor(
    readonly modelId: string,
    private readonly model: HymbaModel,
    private readonly tokenizer: HymbaTokenizer,
    maxTurns: number,
  ) {
    this.gate = new TurnGate(maxTurns)
    this.anchor = tokenizer.encode('a', { addBos: false })[0]!
    this.anchorText = tokenizer.decode([this.anchor])
  }

  get vocabSize(): number {
    return this.model.config.vocabSize
  }

  /**
   * The prompt's token ids. Chat: the model's template rendered with the generation prompt, without
   * BOS (spec §5: apply_chat_template adds none); completion text: BOS first (the base model's usage).
   */
  promptIds(prompt: TurnPrompt, limits: Limits): number[] {
    let ids: number[]
    if (prompt.kind === 'chat') ids = this.tokenizer.encode(this.tokenizer.applyChatTemplate(prompt.messages, { addGenerationPrompt: true }), { addBos: false })
    else if ('text' in prompt) ids = this.tokenizer.encode(prompt.text, { addBos: true })
    else {
      ids = [...prompt.ids]
      const bad = ids.find((id) => id >= this.vocabSize)
      if (bad !== undefined) throw new ApiError(400, `prompt: token id ${bad} is outside the vocabulary [0, ${this.vocabSize})`, 'invalid_request_error', 'invalid_value', 'prompt')
    }
    const param = prompt.kind === 'chat' ? 'messages' : 'prompt'
    if (ids.length === 0) throw new ApiError(400, `${param}: the prompt has no tokens`, 'invalid_request_error', 'invalid_value', param)
    if (ids.length > limits.maxPromptTokens)
      throw new ApiError(400, `The prompt has ${ids.length} tokens; this server allows at most ${limits.maxPromptTokens}`, 'invalid_request_error', 'context_length_exceeded', param)
    return ids
  }

  /** Wait until this isolate may run one more turn; call the result when the turn's states are gone. */
  admit(signal: AbortSignal): Promise<() => void> {
    return this.gate.enter(signal)
  }

  /** A new sequence: a copy of the meta-token prefix computed once at load (issue 4 item 4). */
  freshState(): HymbaState {
    return this.model.newState()
  }

  /** Run `ids` through `state`; a fresh state takes the prefill rule, a used one appends. Logits [V]. */
  advance(state: HymbaState, ids: readonly number[]): Float32Array {
    return state.textTokens === 0 ? this.model.prefill(state, ids) : this.model.append(state, ids)
  }

  restoreState(bytes: Uint8Array): HymbaState {
    return this.model.restoreState(bytes)
  }

  /**
   * Generate from `logits` on `state`, yielding token events. The state ends holding every generated
   * token but the last (src/generate.ts); the returned outcome lists them all.
   */
  async *generate(state: HymbaState, logits: Float32Array, params: TurnParams, signal: AbortSignal): AsyncGenerator<TurnEvent, TurnOutcome> {
    const text = new TextStream(this.tokenizer)
    const stop = new StopMatcher(params.stop)
    const generated: number[] = []
    const tokens = generate(this.model, state, logits, {
      maxTokens: params.maxTokens,
      temperature: params.temperature,
      topP: params.topP,
      topK: params.topK,
      seed: params.seed,
      stopTokenIds: [this.tokenizer.eosId],
      logprobs: params.logprobs,
      topLogprobs: params.logprobs ? params.topLogprobs : 0,
      signal,
    })
    let finishReason: FinishReason
    for (;;) {
      await nextTask()
      const next = await tokens.next()
      if (next.done) {
        const tail = stop.end(text.flush())
        if (tail.text) yield { type: 'text', text: tail.text }
        finishReason = tail.stopped ? 'stop' : next.value
        break
      }
      const { id, logprob, top } = next.value
      generated.push(id)
      const visible = stop.push(text.push(id))
      // logprob is read only when the request asked for logprobs, and then generate() computed it
      const event: TurnEvent = { type: 'token', text: visible.text, token: this.textOf(id), logprob: logprob ?? Number.NaN, top: top?.map((t): TokenChoice => ({ token: this.textOf(t.id), logprob: t.logprob })) }
      yield event
      if (visible.stopped) {
        await tokens.return('stop') // the matched token is not fed, like a stop token
        finishReason = 'stop'
        break
      }
    }
    return { finishReason, generated }
  }

  /** A turn without a session: from the meta-token prefix, nothing kept afterwards. */
  async *oneShot(ids: readonly number[], params: TurnParams, signal: AbortSignal): AsyncGenerator<TurnEvent> {
    const leave = await this.admit(signal)
    const state = this.freshState()
    try {
      const logits = this.advance(state, ids)
      yield { type: 'start', promptTokens: ids.length, cachedTokens: 0 }
      const tokens = this.generate(state, logits, params, signal)
      let step = await tokens.next()
      for (; !step.done; step = await tokens.next()) yield step.value
      yield { type: 'end', finishReason: step.value.finishReason, completionTokens: step.value.generated.length }
    } finally {
      state.dispose()
      leave()
    }
  }

  /** One token's text with its leading space (for logprobs). */
  private textOf(id: number): string {
    let text = this.tokenText.get(id)
    if (text === undefined) {
      text = this.tokenizer.decode([this.anchor, id]).slice(this.anchorText.length)
      this.tokenText.set(id, text)
    }
    return text
  }
}

/**
 * Yield to the isolate's event loop. Every Durable Object of an isolate shares its one thread, and a
 * turn's awaits (stream writes with room to spare) resolve as microtasks: without this, one long
 * generation would hold every other session of the isolate, and their first tokens, until it ends.
 */
const nextTask = () => new Promise<void>((resolve) => setTimeout(resolve, 0))

let loading: { dir: string; engine: Promise<Engine> } | undefined

/** The isolate's engine for the configured model, loaded on first use and shared by every request. */
export function engineFor(env: Env, limits: Limits): Promise<Engine> {
  if (loading?.dir !== limits.modelDir) {
    const engine = load(env.ASSETS, limits)
    loading = { dir: limits.modelDir, engine }
    // A failed load is not cached: the next request tries again.
    engine.catch(() => {
      if (loading?.engine === engine) loading = undefined
    })
  }
  return loading.engine
}

export function engineLoaded(): boolean {
  return loading !== undefined
}

/** The kernels of the isolate's loaded engine ('wasm-relaxed-simd' or 'wasm-simd'), null before a load has finished. */
export function engineKernels(): string | null {
  return loadedKernels
}

let loadedKernels: string | null = null

async function load(assets: Fetcher, limits: Limits): Promise<Engine> {
  const source = assetsSource(assets, limits.modelDir)
  // The WASM-SIMD backend over one fixed linear memory (weights, session states, scratch). By default
  // the relaxed-SIMD module where the engine has it (workerd does: 1.6–1.9× faster decode than plain
  // SIMD, docs/benchmarks.md); WASM_KERNELS = "plain" trades that for results bit-identical on every
  // engine and to the core in Node without flags.
  const kernels = await createWasmKernelsFromModules({ simd: simdKernels, relaxed: relaxedKernels }, {
    memoryBytes: limits.wasmMemoryBytes,
    relaxed: limits.wasmKernels === 'plain' ? false : 'auto',
  })
  const [model, tokenizer] = await Promise.all([loadModel(source, { kernels }), HymbaTokenizer.fromSource(source)])
  loadedKernels = kernels.name
  return new Engine(limits.modelId, model, tokenizer, limits.maxTurnsPerIsolate)
}
