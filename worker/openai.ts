// The OpenAI wire format: request schemas (zod) that turn a body into a `TurnRequest`, and the
// response objects (chat.completion, chat.completion.chunk, text_completion) built from turn events.
// Must not import: src/ (the core), hono, cloudflare:*.
import { z } from 'zod'
import { ApiError } from './errors.ts'
import type { Limits } from './env.ts'
import type { ChatMessage, FinishReason, TokenChoice, TurnParams, TurnPrompt, TurnRequest } from './turn.ts'

export const SESSION_ID = /^[A-Za-z0-9_-]{1,128}$/

const TextPart = z.object({ type: z.literal('text'), text: z.string() })
const Content = z.union([z.string(), z.array(TextPart).max(1024), z.null()])
const Message = z.object({
  // The chat template knows system, user, assistant and tool; 'developer' is OpenAI's newer 'system'.
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
  content: Content.optional(),
})

const Stop = z.union([z.string().min(1).max(256), z.array(z.string().min(1).max(256)).max(4), z.null()])

const Common = {
  model: z.string().min(1).max(256),
  session_id: z.string().regex(SESSION_ID, 'must be 1-128 characters of [A-Za-z0-9_-]').optional(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
  max_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  top_k: z.number().int().min(0).nullish(),
  seed: z.number().int().nullish(),
  stop: Stop.optional(),
  n: z.literal(1).nullish(),
}

export const ChatBody = z.object({
  ...Common,
  messages: z.array(Message).min(1).max(1024),
  max_completion_tokens: z.number().int().min(1).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
})
export type ChatBody = z.infer<typeof ChatBody>

export const CompletionBody = z.object({
  ...Common,
  // A string, a one-element batch of one, or token ids (OpenAI accepts all three).
  prompt: z.union([z.string(), z.array(z.string()).length(1), z.array(z.number().int().min(0)).min(1).max(65536)]),
  logprobs: z.number().int().min(0).max(5).nullish(),
  echo: z.literal(false).nullish(),
  suffix: z.null().optional(),
})
export type CompletionBody = z.infer<typeof CompletionBody>

/** Validate a parsed JSON body; the first problem becomes a 400 naming its field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const result = schema.safeParse(body)
  if (result.success) return result.data
  const issue = result.error.issues[0]!
  const param = issue.path.length ? issue.path.map(String).join('.') : null
  throw new ApiError(400, param ? `${param}: ${issue.message}` : issue.message, 'invalid_request_error', 'invalid_value', param)
}

export function checkModel(model: string, limits: Limits): void {
  if (model !== limits.modelId) throw new ApiError(404, `The model '${model}' does not exist; this server has '${limits.modelId}'`, 'invalid_request_error', 'model_not_found', 'model')
}

function params(body: ChatBody | CompletionBody, maxTokens: number | null | undefined, logprobs: boolean, topLogprobs: number, limits: Limits): TurnParams {
  const max = maxTokens ?? limits.defaultMaxTokens
  if (max > limits.maxCompletionTokens) throw new ApiError(400, `max_tokens is ${max}; this server allows at most ${limits.maxCompletionTokens}`, 'invalid_request_error', 'max_tokens_exceeded', 'max_tokens')
  const stop = body.stop == null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop
  return {
    maxTokens: max,
    temperature: body.temperature ?? 1,
    topP: body.top_p ?? 1,
    topK: body.top_k ?? 0,
    seed: body.seed ?? undefined,
    stop,
    logprobs,
    topLogprobs,
  }
}

function contentText(content: z.infer<typeof Content> | undefined): string {
  if (content == null) return ''
  return typeof content === 'string' ? content : content.map((part) => part.text).join('')
}

export function chatTurn(body: ChatBody, limits: Limits): TurnRequest {
  const messages: ChatMessage[] = body.messages.map((m) => ({ role: m.role === 'developer' ? 'system' : m.role, content: contentText(m.content) }))
  const prompt: TurnPrompt = { kind: 'chat', messages }
  return { prompt, params: params(body, body.max_completion_tokens ?? body.max_tokens, body.logprobs ?? false, body.top_logprobs ?? 0, limits) }
}

export function completionTurn(body: CompletionBody, limits: Limits): TurnRequest {
  const p = body.prompt
  const prompt: TurnPrompt = typeof p === 'string' ? { kind: 'completion', text: p } : typeof p[0] === 'string' ? { kind: 'completion', text: p[0] } : { kind: 'completion', ids: p as number[] }
  const logprobs = body.logprobs != null
  return { prompt, params: params(body, body.max_tokens, logprobs, body.logprobs ?? 0, limits) }
}

// ---- responses ----

export interface Usage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
  prompt_tokens_details: { cached_tokens: number }
}

export function usage(promptTokens: number, completionTokens: number, cachedTokens: number): Usage {
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens, prompt_tokens_details: { cached_tokens: cachedTokens } }
}

/** One generated token as the turn reports it. */
export interface TokenRecord {
  readonly token: string
  readonly logprob: number
  readonly top?: readonly TokenChoice[]
}

const utf8 = new TextEncoder()
const bytesOf = (text: string): number[] => [...utf8.encode(text)]

export function chatLogprobs(tokens: readonly TokenRecord[]) {
  return {
    content: tokens.map((t) => ({
      token: t.token,
      logprob: t.logprob,
      bytes: bytesOf(t.token),
      top_logprobs: (t.top ?? []).map((alt) => ({ token: alt.token, logprob: alt.logprob, bytes: bytesOf(alt.token) })),
    })),
    refusal: null,
  }
}

/** Legacy completions logprobs; `offset` is the text offset of the first token. */
export function completionLogprobs(tokens: readonly TokenRecord[], offset: number) {
  const textOffset: number[] = []
  let at = offset
  for (const t of tokens) {
    textOffset.push(at)
    at += t.token.length
  }
  return {
    tokens: tokens.map((t) => t.token),
    token_logprobs: tokens.map((t) => t.logprob),
    top_logprobs: tokens.map((t) => Object.fromEntries((t.top ?? []).map((alt) => [alt.token, alt.logprob]))),
    text_offset: textOffset,
  }
}

export interface ResponseMeta {
  readonly id: string
  readonly created: number // unix seconds
  readonly model: string
  readonly sessionId: string | undefined
}

export function chatChunk(meta: ResponseMeta, delta: { role?: 'assistant'; content?: string }, finishReason: FinishReason | null, logprobs?: ReturnType<typeof chatLogprobs>) {
  return {
    id: meta.id,
    object: 'chat.completion.chunk' as const,
    created: meta.created,
    model: meta.model,
    system_fingerprint: null,
    ...(meta.sessionId ? { session_id: meta.sessionId } : {}),
    choices: [{ index: 0, delta, logprobs: logprobs ?? null, finish_reason: finishReason }],
  }
}

export function chatUsageChunk(meta: ResponseMeta, u: Usage) {
  return { id: meta.id, object: 'chat.completion.chunk' as const, created: meta.created, model: meta.model, system_fingerprint: null, choices: [], usage: u }
}

export function chatCompletion(meta: ResponseMeta, text: string, finishReason: FinishReason, u: Usage, logprobs: ReturnType<typeof chatLogprobs> | null) {
  return {
    id: meta.id,
    object: 'chat.completion' as const,
    created: meta.created,
    model: meta.model,
    system_fingerprint: null,
    ...(meta.sessionId ? { session_id: meta.sessionId } : {}),
    choices: [{ index: 0, message: { role: 'assistant' as const, content: text, refusal: null }, logprobs, finish_reason: finishReason }],
    usage: u,
  }
}

export function textCompletion(meta: ResponseMeta, text: string, finishReason: FinishReason | null, u: Usage | null, logprobs: ReturnType<typeof completionLogprobs> | null) {
  return {
    id: meta.id,
    object: 'text_completion' as const,
    created: meta.created,
    model: meta.model,
    system_fingerprint: null,
    ...(meta.sessionId ? { session_id: meta.sessionId } : {}),
    choices: [{ index: 0, text, logprobs, finish_reason: finishReason }],
    ...(u ? { usage: u } : {}),
  }
}
