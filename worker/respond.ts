// Turn events → OpenAI responses: SSE streams of chat.completion.chunk / text_completion (a usage chunk
// when stream_options.include_usage, then [DONE]) and whole JSON bodies. An error before the first
// token becomes an HTTP error; one after it becomes an `error` event in the stream. A stream whose
// client takes no event for STREAM_STALL_MS is ended and its turn cancelled.
// Must not import: src/.
import type { Context } from 'hono'
import { streamSSE } from 'hono/streaming'
import type { TurnStream } from './dispatch.ts'
import type { Limits } from './env.ts'
import { ApiError, type ErrorStatus } from './errors.ts'
import { chatChunk, chatCompletion, chatLogprobs, chatUsageChunk, completionLogprobs, textCompletion, usage, type ResponseMeta, type TokenRecord, type Usage } from './openai.ts'
import type { FinishReason, TurnEvent } from './turn.ts'

export type ApiKind = 'chat' | 'completion'

export interface ResponseOptions {
  readonly kind: ApiKind
  readonly meta: ResponseMeta
  readonly logprobs: boolean
  readonly includeUsage: boolean
}

/** The start event, or the turn's error as an ApiError (thrown before any response is sent). */
async function started(turn: TurnStream): Promise<Extract<TurnEvent, { type: 'start' }>> {
  const first = await turn.events.next()
  if (first.done) throw new ApiError(500, 'the turn ended before it started', 'server_error', 'internal_error')
  if (first.value.type === 'error') throw ApiError.fromWire(first.value.error)
  if (first.value.type !== 'start') throw new ApiError(500, `unexpected ${first.value.type} event`, 'server_error', 'internal_error')
  return first.value
}

const record = (e: Extract<TurnEvent, { type: 'token' }>): TokenRecord => ({ token: e.token, logprob: e.logprob, top: e.top })

/**
 * Keep the request's context alive until `done` is called. A client that disconnects otherwise cancels
 * the context on the spot, and nothing of it runs again: not the turn's cleanup (a stateless turn's
 * state in the WASM memory), not the release of its key slot.
 */
function untilDone(c: Context): () => void {
  let done!: () => void
  c.executionCtx.waitUntil(new Promise<void>((resolve) => (done = resolve)))
  return done
}

export async function respondJson(c: Context, turn: TurnStream, options: ResponseOptions): Promise<Response> {
  const done = untilDone(c)
  try {
    return await collect(c, turn, options)
  } finally {
    done()
  }
}

async function collect(c: Context, turn: TurnStream, options: ResponseOptions): Promise<Response> {
  const start = await started(turn)
  let text = ''
  const tokens: TokenRecord[] = []
  for await (const e of turn.events) {
    if (e.type === 'token') {
      text += e.text
      tokens.push(record(e))
    } else if (e.type === 'text') text += e.text
    else if (e.type === 'error') return c.json(e.error.body, e.error.status as ErrorStatus)
    else if (e.type === 'end') {
      const u = usage(start.promptTokens, e.completionTokens, start.cachedTokens)
      if (options.kind === 'chat') return c.json(chatCompletion(options.meta, text, e.finishReason, u, options.logprobs ? chatLogprobs(tokens) : null))
      return c.json(textCompletion(options.meta, text, e.finishReason, u, options.logprobs ? completionLogprobs(tokens, 0) : null))
    }
  }
  throw new ApiError(500, 'the turn ended without a result', 'server_error', 'internal_error')
}

/** A write that the client did not take within the stall time: it is gone. */
class ClientGone extends Error {
  override readonly name = 'ClientGone'
}

export async function respondStream(c: Context, turn: TurnStream, options: ResponseOptions): Promise<Response> {
  const done = untilDone(c)
  let start: Extract<TurnEvent, { type: 'start' }>
  try {
    start = await started(turn)
  } catch (err) {
    done()
    throw err
  }
  const stallMs = (c.get('limits') as Limits).streamStallMs // set for every request by app.ts
  return streamSSE(c, async (sse) => {
    sse.onAbort(() => turn.cancel())
    // workerd does not always cancel the response of a gone client: a write then waits forever, and
    // the turn (its state, its key slot) with it. Ending the loop returns the turn's events, which
    // frees both (worker/dispatch.ts, worker/engine.ts).
    const write = async (data: string) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      const stalled = new Promise<'stalled'>((resolve) => (timer = setTimeout(() => resolve('stalled'), stallMs)))
      try {
        if ((await Promise.race([sse.writeSSE({ data }).then(() => 'written' as const), stalled])) === 'stalled') throw new ClientGone(`no event taken for ${stallMs} ms`)
      } finally {
        clearTimeout(timer)
      }
    }
    try {
      await streamEvents(turn, options, start, write, () => sse.aborted)
    } catch (err) {
      if (!(err instanceof ClientGone) && !sse.aborted) throw err // after an abort, the turn fails on purpose
      turn.cancel()
    } finally {
      done()
    }
  })
}

/** The SSE events of a turn, through `write`; stops early once `aborted()`. */
async function streamEvents(turn: TurnStream, options: ResponseOptions, start: Extract<TurnEvent, { type: 'start' }>, write: (data: string) => Promise<void>, aborted: () => boolean): Promise<void> {
  const { meta, kind } = options
  const send = (data: unknown) => write(JSON.stringify(data))
  const sendText = (text: string, tokens: TokenRecord[], finish: FinishReason | null, at: number) =>
    kind === 'chat'
      ? send(chatChunk(meta, { content: text }, finish, options.logprobs && tokens.length ? chatLogprobs(tokens) : undefined))
      : send(textCompletion(meta, text, finish, null, options.logprobs && tokens.length ? completionLogprobs(tokens, at) : null))
  if (kind === 'chat') await send(chatChunk(meta, { role: 'assistant', content: '' }, null))
  let offset = 0
  for await (const e of turn.events) {
    if (aborted()) return
    if (e.type === 'token' || e.type === 'text') {
      const tokens = e.type === 'token' ? [record(e)] : []
      if (e.text || (options.logprobs && tokens.length)) await sendText(e.text, tokens, null, offset)
      offset += e.text.length
    } else if (e.type === 'error') {
      await send(e.error.body)
      break
    } else if (e.type === 'end') {
      if (kind === 'chat') await send(chatChunk(meta, {}, e.finishReason))
      else await send(textCompletion(meta, '', e.finishReason, null, null))
      if (options.includeUsage) await send(usageChunk(kind, meta, usage(start.promptTokens, e.completionTokens, start.cachedTokens)))
    }
  }
  await write('[DONE]')
}

function usageChunk(kind: ApiKind, meta: ResponseMeta, u: Usage) {
  return kind === 'chat' ? chatUsageChunk(meta, u) : { ...textCompletion(meta, '', null, u, null), choices: [] }
}
