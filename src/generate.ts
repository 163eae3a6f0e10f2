// Token generation: sample from the last logits, feed each token through decode(), stop on a stop
// token, the token budget or an AbortSignal (checked between tokens).
// Must not import: worker/, Node built-ins.
import type { HymbaModel } from './model.ts'
import { logSumExp, Sampler, topIds, type SamplerOptions } from './sampling.ts'
import type { HymbaState } from './state.ts'

export interface GenerateOptions extends SamplerOptions {
  readonly maxTokens: number
  /** Ids that end generation (EOS); the stop token is yielded but not fed to the model. */
  readonly stopTokenIds?: readonly number[]
  /** Report each token's log-probability (default true): one more pass over the logits a token. */
  readonly logprobs?: boolean
  /** How many alternatives to report per token (OpenAI top_logprobs) when logprobs is on; 0 = none. */
  readonly topLogprobs?: number
  readonly signal?: AbortSignal
}

export interface GeneratedToken {
  readonly id: number
  /** log p(id) under the model's distribution (temperature 1); absent when options.logprobs is false. */
  readonly logprob?: number
  readonly top?: { id: number; logprob: number }[]
}

export type FinishReason = 'stop' | 'length'

/**
 * Yields tokens sampled from `logits` onwards. Every token but the last is fed to the model, so
 * afterwards `state` holds the prompt plus all generated tokens except the final one (the caller
 * appends it with the next turn). Throws the signal's reason when aborted.
 */
export async function* generate(model: HymbaModel, state: HymbaState, logits: Float32Array, options: GenerateOptions): AsyncGenerator<GeneratedToken, FinishReason> {
  const sampler = new Sampler(options, model.kernels)
  const stop = new Set(options.stopTokenIds ?? [model.config.eosTokenId])
  for (let produced = 0; produced < options.maxTokens; produced++) {
    options.signal?.throwIfAborted()
    const id = sampler.sample(logits)
    if (options.logprobs ?? true) {
      const logZ = logSumExp(logits) // log p(t) = logits[t] − logZ
      const top = options.topLogprobs ? topIds(logits, options.topLogprobs).map((t) => ({ id: t, logprob: logits[t] - logZ })) : undefined
      yield { id, logprob: logits[id] - logZ, top }
    } else yield { id }
    if (stop.has(id)) return 'stop'
    if (produced + 1 === options.maxTokens) break
    options.signal?.throwIfAborted()
    logits = model.decode(state, id)
    await Promise.resolve() // let the event loop see aborts and flush streams between tokens
  }
  return 'length'
}
