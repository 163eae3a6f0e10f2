// The fuzz run against a worker in Miniflare (issue 5 item 1), shared by test/worker-fuzz.test.ts (a
// fixed-seed subset) and scripts/fuzz.ts (the full run): protected sessions are created first, then
// the sampled hostile requests are sent a few at a time and every response is checked (a 4xx with an
// OpenAI-style error body and no internals, or a well-formed 2xx; never a 5xx or a dropped
// connection), then the protected sessions must be unchanged and continue bit-identically to twins
// that the fuzzer never addressed. Not a test file.
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import type { RunningWorker } from '../worker-harness.ts'
import { FUZZ_KEY, KEEP_KEY, MODEL, PROTECTED_SESSIONS, hostileRequest, type FuzzRequest } from './requests.ts'

/** The key of the twin sessions; the fuzzer never sends it. */
const TWIN_KEY = 'key-twin'

/** Worker vars for fuzzing: keys, and limits that keep any generation it triggers to 1–2 tokens. */
export const FUZZ_VARS: Readonly<Record<string, string>> = {
  API_KEYS: [FUZZ_KEY, KEEP_KEY, TWIN_KEY].join(','),
  MAX_PROMPT_TOKENS: '256',
  MAX_COMPLETION_TOKENS: '2',
  DEFAULT_MAX_TOKENS: '2',
  MAX_CONCURRENT_PER_KEY: '16',
}

export interface Failure {
  readonly kind: string
  readonly method: string
  readonly path: string
  readonly body: string // the first 300 characters
  readonly status: number | null
  readonly problem: string
}

export interface FuzzReport {
  readonly seed: number
  readonly requests: number
  readonly concurrency: number
  readonly durationMs: number
  readonly statuses: Record<string, number>
  /** Per generator: its request count by status. */
  readonly kinds: Record<string, Record<string, number>>
  /** Requests sent twice because their first connection was closed (see send). */
  readonly retries: number
  readonly failureCount: number
  readonly failures: readonly Failure[] // the first 50
  readonly protectedSessions: { readonly count: number; readonly unchanged: boolean; readonly resumedIdentically: boolean }
}

const FIRST_TURN = [{ role: 'user', content: 'What did the jury say about the city?' }]
const TURN_PARAMS = { model: MODEL, temperature: 0, max_tokens: 2, logprobs: true, top_logprobs: 3 }

async function chat(worker: RunningWorker, key: string, body: Record<string, unknown>) {
  const r = await fetch(new URL('v1/chat/completions', worker.url), { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ ...TURN_PARAMS, ...body }) })
  const json = (await r.json()) as any
  if (r.status !== 200) throw new Error(`setup turn failed: ${r.status} ${JSON.stringify(json)}`)
  return json
}

async function sessionInfo(worker: RunningWorker, key: string, id: string): Promise<unknown> {
  const r = await fetch(new URL(`v1/sessions/${id}`, worker.url), { headers: { authorization: `Bearer ${key}` } })
  return { status: r.status, body: await r.json() }
}

/** Fuzz a running worker (started with FUZZ_VARS) with `requests` requests sampled from `seed`. */
export async function fuzzWorker(worker: RunningWorker, options: { seed: number; requests: number; concurrency: number }): Promise<FuzzReport> {
  const replies = new Map<string, string>()
  for (const id of PROTECTED_SESSIONS) {
    const keep = await chat(worker, KEEP_KEY, { messages: FIRST_TURN, session_id: id })
    await chat(worker, TWIN_KEY, { messages: FIRST_TURN, session_id: id })
    replies.set(id, keep.choices[0].message.content)
  }
  const before = await Promise.all(PROTECTED_SESSIONS.map((id) => sessionInfo(worker, KEEP_KEY, id)))

  const requests = fc.sample(hostileRequest, { seed: options.seed, numRuns: options.requests })
  const statuses: Record<string, number> = {}
  const kinds: Record<string, Record<string, number>> = {}
  const failures: Failure[] = []
  let failureCount = 0
  let retries = 0
  const started = performance.now()
  let next = 0
  const lane = async () => {
    for (let i = next++; i < requests.length; i = next++) {
      const request = requests[i]!
      const { status, problem, retried } = await send(worker, request)
      if (retried) retries++
      const key = status === null ? 'none' : String(status)
      statuses[key] = (statuses[key] ?? 0) + 1
      kinds[request.kind] ??= {}
      kinds[request.kind]![key] = (kinds[request.kind]![key] ?? 0) + 1
      if (problem) {
        failureCount++
        if (failures.length < 50) failures.push({ kind: request.kind, method: request.method, path: request.path, body: bodyText(request).slice(0, 300), status, problem })
      }
    }
  }
  await Promise.all(Array.from({ length: options.concurrency }, lane))
  const durationMs = performance.now() - started

  const after = await Promise.all(PROTECTED_SESSIONS.map((id) => sessionInfo(worker, KEEP_KEY, id)))
  let resumedIdentically = true
  for (const id of PROTECTED_SESSIONS) {
    const messages = [...FIRST_TURN, { role: 'assistant', content: replies.get(id) }, { role: 'user', content: 'And then?' }]
    const [kept, twin] = await Promise.all([KEEP_KEY, TWIN_KEY].map((key) => chat(worker, key, { messages, session_id: id })))
    if (!isDeepStrictEqual(kept.choices, twin.choices) || !isDeepStrictEqual(kept.usage, twin.usage)) resumedIdentically = false
  }
  return {
    seed: options.seed,
    requests: requests.length,
    concurrency: options.concurrency,
    durationMs: Math.round(durationMs),
    statuses,
    kinds,
    retries,
    failureCount,
    failures,
    protectedSessions: { count: PROTECTED_SESSIONS.length, unchanged: isDeepStrictEqual(before, after), resumedIdentically },
  }
}

function bodyText(request: FuzzRequest): string {
  const body = request.body()
  return body ? new TextDecoder().decode(body.subarray(0, 4096)) : ''
}

/**
 * Send one request; the problem with its response, if any. workerd closes a connection whose request
 * body was over the limit and left unread (worker/body.ts), and the client may already have picked that
 * kept-alive connection for its next request: like any HTTP client (the openai client does), a request
 * that gets no response is sent once more, on a new connection. Failing twice is a failure.
 */
async function send(worker: RunningWorker, request: FuzzRequest, retried = false): Promise<{ status: number | null; problem: string | null; retried: boolean }> {
  let response: Response
  try {
    response = await fetch(worker.url.origin + request.path, { method: request.method, headers: request.headers, body: request.body(), redirect: 'manual', signal: AbortSignal.timeout(60_000) })
  } catch (err) {
    if (!retried) return send(worker, request, true)
    return { status: null, problem: `no response: ${(err as Error).message} ${String((err as Error).cause ?? '')}`, retried }
  }
  const status = response.status
  let text: string
  try {
    text = await response.text()
  } catch (err) {
    return { status, problem: `body broke off: ${(err as Error).message}`, retried }
  }
  return { status, problem: problemWith(request, response, text), retried }
}

const ERROR_KEYS = ['code', 'message', 'param', 'type']
/** Stack frames, source paths, internal error class names: none may appear in a response. */
const LEAKS = [/\bat \S+ \(/, /\n\s+at /, /\/work\//, /file:\/\//, /node_modules/, /\b(?:worker|src|wasm)\/[\w-]+\.ts/, /\.ts:\d+/, /\b(?:TypeError|RangeError|SyntaxError|ReferenceError|HymbaError|BadCheckpoint|BadState|InvalidInput|StoredRecordError|InjectedFault|KernelOutOfMemory)\b/]

function problemWith(request: FuzzRequest, response: Response, text: string): string | null {
  const status = response.status
  const type = response.headers.get('content-type') ?? ''
  // A leak is text the server wrote: what the request itself contains may be echoed back.
  const echoed = request.path + bodyText(request)
  for (const leak of LEAKS) {
    const match = leak.exec(text)
    if (match && !echoed.includes(match[0])) return `internal detail in the response: ${JSON.stringify(match[0])}`
  }
  if (status >= 500) return `${status}: ${text.slice(0, 300)}`
  if (status >= 400) {
    if (request.method === 'HEAD') return null
    if (!type.includes('application/json')) return `${status} with content-type ${type}`
    let body: any
    try {
      body = JSON.parse(text)
    } catch {
      return `${status} body is not JSON: ${text.slice(0, 100)}`
    }
    const e = body?.error
    const ok = Object.keys(body).join() === 'error' && e && Object.keys(e).sort().join() === ERROR_KEYS.join() && typeof e.message === 'string' && e.message.length > 0 && typeof e.type === 'string' && (e.param === null || typeof e.param === 'string') && (e.code === null || typeof e.code === 'string')
    return ok ? null : `${status} body is not an OpenAI-style error: ${text.slice(0, 200)}`
  }
  if (status < 200 || status >= 300) return `unexpected status ${status}`
  if (request.method === 'HEAD' || type.includes('text/html')) return null
  if (type.includes('text/event-stream')) return streamProblem(text)
  try {
    const body = JSON.parse(text)
    return body?.error ? `error body with ${status}` : null
  } catch {
    return `${status} body is not JSON`
  }
}

function streamProblem(text: string): string | null {
  const events = text.split('\n\n').filter(Boolean)
  if (events.at(-1) !== 'data: [DONE]') return 'stream does not end with [DONE]'
  for (const event of events.slice(0, -1)) {
    if (!event.startsWith('data: ')) return `not an SSE data event: ${event.slice(0, 80)}`
    let chunk: any
    try {
      chunk = JSON.parse(event.slice(6))
    } catch {
      return `stream event is not JSON: ${event.slice(0, 80)}`
    }
    if (chunk.error) return `error event in a 200 stream: ${JSON.stringify(chunk.error).slice(0, 200)}`
  }
  return null
}
