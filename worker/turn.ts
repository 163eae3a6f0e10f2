// One turn of generation as the worker passes it around: the request after validation (`TurnRequest`),
// the events a turn emits (`TurnEvent`), and their NDJSON encoding across Durable Object RPC.
// Must not import: src/ (the core), hono, cloudflare:*.
import type { WireError } from './errors.ts'

export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant' | 'tool'
  readonly content: string
}

/** What every turn needs, resolved against the limits (defaults filled in). */
export interface TurnParams {
  readonly maxTokens: number
  readonly temperature: number
  readonly topP: number
  readonly topK: number // 0 = off
  readonly seed: number | undefined
  readonly stop: readonly string[]
  readonly topLogprobs: number // alternatives per token when logprobs is on
  readonly logprobs: boolean
}

export type TurnPrompt =
  | { readonly kind: 'chat'; readonly messages: readonly ChatMessage[] }
  | { readonly kind: 'completion'; readonly text: string }
  | { readonly kind: 'completion'; readonly ids: readonly number[] }

export interface TurnRequest {
  readonly prompt: TurnPrompt
  readonly params: TurnParams
}

export interface TokenChoice {
  readonly token: string // the token's text, leading space included
  readonly logprob: number
}

export type FinishReason = 'stop' | 'length'

export type TurnEvent =
  | { readonly type: 'start'; readonly promptTokens: number; readonly cachedTokens: number }
  /** `text` is the new visible text (may be empty while a stop string or a UTF-8 sequence is pending). */
  | { readonly type: 'token'; readonly text: string; readonly token: string; readonly logprob: number; readonly top?: readonly TokenChoice[] }
  /** Text released at the end of generation (held back for a possible stop string or UTF-8 tail). */
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'end'; readonly finishReason: FinishReason; readonly completionTokens: number }
  | { readonly type: 'error'; readonly error: WireError }

const encoder = new TextEncoder()

export function encodeEvent(event: TurnEvent): Uint8Array {
  return encoder.encode(JSON.stringify(event) + '\n')
}

/** Parse an NDJSON byte stream of events; returning early cancels the stream (the turn aborts). */
export async function* decodeEvents(reader: ReadableStreamDefaultReader<Uint8Array>): AsyncGenerator<TurnEvent> {
  const decoder = new TextDecoder()
  let pending = ''
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      pending += decoder.decode(value, { stream: true })
      let newline: number
      while ((newline = pending.indexOf('\n')) >= 0) {
        yield JSON.parse(pending.slice(0, newline)) as TurnEvent
        pending = pending.slice(newline + 1)
      }
    }
  } finally {
    await reader.cancel().catch(() => {})
  }
}
