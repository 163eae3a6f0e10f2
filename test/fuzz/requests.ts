// Hostile HTTP requests for the worker fuzzer (issue 5 item 1), as fast-check arbitraries: malformed and
// truncated JSON, NaN/Infinity literals, wrong types, extreme numbers, unknown fields, deep nesting,
// invalid UTF-8, lone surrogates, enormous strings, bad session ids, wrong methods and paths, bad auth,
// odd headers, and a few small valid requests (max_tokens ≤ 2). Bodies are built when sent, so a
// sampled batch stays small in memory. Not a test file; used by test/fuzz/run.ts.
import fc from 'fast-check'

export const MODEL = 'hymba-brown-17m'
/** The fuzzer's own key, and the key of the sessions it must not disturb (test/fuzz/run.ts). */
export const FUZZ_KEY = 'key-fuzz'
export const KEEP_KEY = 'key-keep'
export const PROTECTED_SESSIONS = ['keep-a', 'keep-b', 'keep-c'] as const

export interface FuzzRequest {
  /** Which generator made it (for the report). */
  readonly kind: string
  readonly method: string
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  /** The body, built on demand (null: none). */
  readonly body: () => Uint8Array<ArrayBuffer> | null
}

type Json = Record<string, unknown>
const utf8 = new TextEncoder()
const text = (s: string) => () => utf8.encode(s)

const chatBody = (): Json => ({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 1, temperature: 0 })
const completionBody = (): Json => ({ model: MODEL, prompt: 'The jury', max_tokens: 1, temperature: 0 })
const ENDPOINTS = { chat: '/v1/chat/completions', completion: '/v1/completions' } as const
type Endpoint = keyof typeof ENDPOINTS

/** Chat or completion, with a valid body to mutate. */
const base = fc.constantFrom<Endpoint>('chat', 'completion').map((endpoint) => ({ endpoint, body: endpoint === 'chat' ? chatBody() : completionBody() }))

/** Fields whose value the mutating generators replace, by dotted path into the body. */
const FIELDS = ['model', 'messages', 'messages.0', 'messages.0.role', 'messages.0.content', 'prompt', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'top_k', 'seed', 'stop', 'stream', 'stream_options', 'stream_options.include_usage', 'n', 'session_id', 'logprobs', 'top_logprobs', 'echo', 'suffix'] as const
const NUMERIC_FIELDS = ['max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'top_k', 'seed', 'n', 'logprobs', 'top_logprobs', 'messages.0.content', 'prompt', 'stream'] as const
/** String fields where invalid text (bytes, surrogates, enormous runs) is spliced in. */
const STRING_FIELDS = ['model', 'messages.0.content', 'messages.0.role', 'prompt', 'session_id', 'stop', 'x-unknown'] as const

/** `body` with the value at a dotted path set (creating objects on the way). */
function setPath(body: Json, path: string, value: unknown): Json {
  const copy = structuredClone(body)
  const keys = path.split('.')
  let at: Record<string, unknown> = copy
  for (const key of keys.slice(0, -1)) {
    if (typeof at[key] !== 'object' || at[key] === null) at[key] = {}
    at = at[key] as Record<string, unknown>
  }
  at[keys.at(-1)!] = value
  return copy
}

/** A placeholder that the JSON text of a body carries where raw text is spliced in. */
const HOLE = '\u0000HOLE\u0000'
const HOLE_JSON = JSON.stringify(HOLE)
/** The body's JSON text with the string at `path` replaced by raw JSON (`"…"` or a literal). */
function spliced(body: Json, path: string, raw: string): string {
  return JSON.stringify(setPath(body, path, HOLE)).replace(HOLE_JSON, raw)
}

const auth = fc.oneof(
  { arbitrary: fc.constant(`Bearer ${FUZZ_KEY}`), weight: 30 },
  {
    arbitrary: fc.oneof(
      fc.constant(''),
      fc.constantFrom('Bearer', 'Bearer ', `Bearer  ${FUZZ_KEY}  `, `bearer ${FUZZ_KEY}`, `Basic ${FUZZ_KEY}`, `Bearer ${FUZZ_KEY} extra`, 'Bearer key-fuzzz', `Bearer ${KEEP_KEY.toUpperCase()}`, 'Token abc'),
      fc.string({ unit: 'binary-ascii', maxLength: 80 }).map((s) => `Bearer ${s.replace(/[^\x20-\x7e]/g, '')}`),
      fc.integer({ min: 1, max: 8000 }).map((n) => `Bearer ${'k'.repeat(n)}`),
    ),
    weight: 3,
  },
)

const request = (kind: string, endpoint: Endpoint, body: () => Uint8Array<ArrayBuffer> | null, authorization: string, headers: Record<string, string> = {}): FuzzRequest => ({
  kind,
  method: 'POST',
  path: ENDPOINTS[endpoint],
  headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}), ...headers },
  body,
})

const truncatedJson = fc.tuple(base, fc.nat(), auth).map(([b, cut, a]) => {
  const json = JSON.stringify(b.body)
  return request('truncated-json', b.endpoint, text(json.slice(0, 1 + (cut % (json.length - 1)))), a)
})

const junkJson = fc.tuple(
  fc.constantFrom<Endpoint>('chat', 'completion'),
  fc.oneof(
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.constantFrom('', ' ', 'null', 'true', '0', '-0', '[]', '""', '{', '}', '{}', '[1,2]', '{"a":}', '{,}', "{'model':'x'}", '{"model":"x",}', '\ufeff{}', '{"model":"x"}{"model":"y"}', '/* */{}'),
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
  ),
  auth,
).map(([endpoint, s, a]) => request('junk-json', endpoint, text(s), a))

const nonJsonNumbers = fc.tuple(base, fc.constantFrom(...NUMERIC_FIELDS), fc.constantFrom('NaN', 'Infinity', '-Infinity', '1e999', '-1e999', '0x10', '+1', '.5', '1.', '01', '1_000', '--1', '1e', 'undefined', '∞'), auth).map(([b, field, literal, a]) =>
  request('nan-infinity', b.endpoint, text(spliced(b.body, field, literal)), a),
)

const wrongTypes = fc.tuple(base, fc.constantFrom(...FIELDS), fc.jsonValue({ maxDepth: 3 }), auth).map(([b, field, value, a]) => request('wrong-type', b.endpoint, text(JSON.stringify(setPath(b.body, field, value))), a))

const extremeNumber = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(2 ** 53, 2 ** 53 - 1, 2 ** 53 + 2, -(2 ** 53), 2 ** 64, 2 ** 31, -(2 ** 31), 2 ** 32, 1e308, -1e308, Number.MAX_VALUE, Number.MIN_VALUE, 5e-324, -0, 0, -1, 1.5, 0.1, 3, 20, 21, 256, 65536, 99999),
)
const extremeNumbers = fc.tuple(base, fc.constantFrom(...NUMERIC_FIELDS), extremeNumber, auth).map(([b, field, n, a]) => request('extreme-number', b.endpoint, text(JSON.stringify(setPath(b.body, field, n))), a))

const unknownFields = fc.tuple(base, fc.dictionary(fc.string({ maxLength: 20 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 6 }), fc.constantFrom('', '__proto__', 'constructor', 'prototype', 'toString'), auth).map(([b, extra, special, a]) => {
  // The valid fields win, so most of these are valid requests (unknown fields are ignored).
  const json = JSON.stringify({ ...extra, ...b.body })
  const withSpecial = special ? `{${JSON.stringify(special)}:{"model":"evil","max_tokens":999999},${json.slice(1)}` : json
  return request('unknown-fields', b.endpoint, text(withSpecial), a)
})

const deepNesting = fc.tuple(base, fc.constantFrom('top', 'messages.0.content', 'stop', 'x-deep', 'stream_options'), fc.integer({ min: 1, max: 60000 }), fc.constantFrom('[', '{"a":'), auth).map(([b, where, depth, open, a]) => {
  const close = open === '[' ? ']' : '}'
  const nested = () => open.repeat(depth) + (open === '[' ? '1' : '1') + close.repeat(depth)
  return request('deep-nesting', b.endpoint, () => utf8.encode(where === 'top' ? nested() : spliced(b.body, where, nested())), a)
})

const BAD_UTF8 = [[0xff], [0xfe], [0xc0, 0x80], [0xc1, 0xbf], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82], [0x80], [0xf0, 0x9f], [0x00]]
const invalidUtf8 = fc.tuple(base, fc.constantFrom(...STRING_FIELDS), fc.oneof(fc.constantFrom(...BAD_UTF8), fc.uint8Array({ minLength: 1, maxLength: 40 }).map((u) => [...u])), auth).map(([b, field, bytes, a]) => {
  const [before, after] = spliced(b.body, field, '"a\u0001b"').split('\u0001')
  return request('invalid-utf8', b.endpoint, () => new Uint8Array([...utf8.encode(before!), ...bytes, ...utf8.encode(after!)]), a)
})

const SURROGATES = ['\\ud800', '\\udfff', '\\ud83d', '\\ude00\\ud83d', 'x\\ud800y', '\\udbff\\udbff', '\\ud800\\u0000']
const loneSurrogates = fc.tuple(base, fc.constantFrom(...STRING_FIELDS), fc.constantFrom(...SURROGATES), auth).map(([b, field, s]) => request('lone-surrogate', b.endpoint, text(spliced(b.body, field, `"${s}"`)), `Bearer ${FUZZ_KEY}`))

const enormousStrings = fc.tuple(base, fc.constantFrom(...STRING_FIELDS), fc.constantFrom('x', 'é', '🙂', ' ', 'jury ', '\\n', '\\u0000'), fc.constantFrom(1_000, 10_000, 60_000, 300_000, 1_000_000), auth).map(([b, field, unit, count, a]) =>
  request('enormous-string', b.endpoint, () => utf8.encode(spliced(b.body, field, `"${unit.repeat(count)}"`)), a),
)

const sessionIdValue = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 140 }),
  fc.stringMatching(/^[A-Za-z0-9_-]{1,128}$/),
  fc.constantFrom('', '../etc', 'a b', 'x'.repeat(129), 'é', 'a/b', '%2e%2e', 'a\nb', 'keep-a', 'public', 'key-x:y', null, 5, [], {}, true),
)
const badSessionIds = fc.oneof(
  fc.tuple(base, sessionIdValue, auth).map(([b, id, a]) => request('session-id-body', b.endpoint, text(JSON.stringify({ ...b.body, session_id: id })), a)),
  fc.tuple(fc.constantFrom('GET', 'DELETE'), fc.string({ unit: 'binary', maxLength: 140 }), auth).map(([method, id, a]): FuzzRequest => ({
    kind: 'session-id-path',
    method,
    path: `/v1/sessions/${encodeURIComponent(id.replace(/[\ud800-\udfff]/g, '?'))}`,
    headers: a ? { authorization: a } : {},
    body: () => null,
  })),
)

const KNOWN_PATHS = ['/', '/healthz', '/v1/models', `/v1/models/${MODEL}`, '/v1/models/gpt-4', '/v1/chat/completions', '/v1/completions', '/v1/sessions/abc', '/v1/sessions/', '/v1/sessions', '/v1']
const segment = fc.oneof(fc.constantFrom('v1', 'chat', 'completions', 'sessions', 'models', '..', '.', '', '%00', '%2F', '%ZZ', 'config.json', 'hymba-brown-17m', 'tokenizer.json'), fc.stringMatching(/^[A-Za-z0-9._~-]{0,12}$/))
const anyPath = fc.oneof(
  fc.constantFrom(...KNOWN_PATHS),
  fc.tuple(fc.constantFrom(...KNOWN_PATHS), fc.constantFrom('/', '//', '/x', '.json', '?a=1', '?stream=true', '#frag', '%20', '/../..')).map(([p, s]) => p + s),
  fc.array(segment, { maxLength: 8 }).map((s) => '/' + s.join('/')),
  fc.integer({ min: 100, max: 2000 }).map((n) => '/v1/' + 'a'.repeat(n)),
)
const methodsPaths = fc.tuple(fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'), anyPath, base, fc.boolean(), auth).map(([method, path, b, withBody, a]): FuzzRequest => ({
  kind: 'method-path',
  method,
  path,
  headers: { 'content-type': 'application/json', ...(a ? { authorization: a } : {}) },
  body: withBody && method !== 'GET' && method !== 'HEAD' ? text(JSON.stringify(b.body)) : () => null,
}))

const oddHeaders = fc.tuple(
  base,
  fc.constantFrom<Record<string, string>>({ 'content-type': 'text/plain' }, { 'content-type': 'application/x-www-form-urlencoded' }, { 'content-type': 'multipart/form-data; boundary=x' }, { 'content-encoding': 'gzip' }, { 'content-encoding': 'br' }, { accept: 'text/event-stream' }, { 'x-forwarded-for': '1.2.3.4' }, { 'content-type': 'application/json; charset=latin1' }),
  auth,
).map(([b, headers, a]) => request('odd-headers', b.endpoint, text(JSON.stringify({ ...b.body, max_tokens: 1 })), a, headers))

/** Small valid requests: generation does happen (1–2 tokens), in fresh or fuzz-owned sessions. */
const valid = fc.tuple(
  base,
  fc.record({
    max_tokens: fc.constantFrom(1, 2),
    stream: fc.boolean(),
    stream_options: fc.option(fc.record({ include_usage: fc.boolean() }), { nil: undefined }),
    temperature: fc.option(fc.constantFrom(0, 0.7, 2), { nil: undefined }),
    top_p: fc.option(fc.constantFrom(0.01, 0.9, 1), { nil: undefined }),
    top_k: fc.option(fc.constantFrom(0, 1, 50, 2 ** 40), { nil: undefined }),
    seed: fc.option(fc.constantFrom(0, -1, 7, 2 ** 53 - 1, -(2 ** 53 - 1)), { nil: undefined }),
    stop: fc.option(fc.oneof(fc.string({ minLength: 1, maxLength: 8 }), fc.array(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 4 })), { nil: undefined }),
    session_id: fc.option(fc.constantFrom('fuzz-1', 'fuzz-2', 'fuzz-3', ...PROTECTED_SESSIONS), { nil: undefined }),
  }),
  fc.option(fc.constantFrom(0, 3, 20), { nil: undefined }),
  fc.string({ maxLength: 40 }),
).map(([b, params, logprobs, content]) => {
  const body: Json = { ...b.body, ...params }
  if (b.endpoint === 'chat') {
    body.messages = [{ role: 'user', content }]
    if (logprobs !== undefined) Object.assign(body, { logprobs: true, top_logprobs: logprobs })
  } else {
    body.prompt = content
    if (logprobs !== undefined) body.logprobs = Math.min(logprobs, 5)
  }
  return request('valid', b.endpoint, text(JSON.stringify(body)), `Bearer ${FUZZ_KEY}`)
})

/**
 * Requests aimed at the protected sessions with their own key that must fail without touching them:
 * each is invalid by construction (truncated JSON, a wrong type, a prompt the session object refuses).
 */
const atProtected = fc.tuple(fc.constantFrom(...PROTECTED_SESSIONS), base, fc.nat(), fc.constantFrom('truncate', 'messages', 'max_tokens', 'ids', 'too-long', 'get')).map(([id, b, cut, how]): FuzzRequest => {
  const body = { ...b.body, session_id: id }
  const headers = { authorization: `Bearer ${KEEP_KEY}`, 'content-type': 'application/json' }
  if (how === 'get') return { kind: 'at-protected', method: 'GET', path: `/v1/sessions/${id}`, headers, body: () => null }
  const json =
    how === 'truncate'
      ? JSON.stringify(body).slice(0, 1 + (cut % 40))
      : how === 'messages'
        ? JSON.stringify({ ...body, messages: 'hello', prompt: 42 })
        : how === 'max_tokens'
          ? JSON.stringify({ ...body, max_tokens: -1 - (cut % 100) })
          : how === 'ids'
            ? JSON.stringify({ model: MODEL, session_id: id, prompt: [1, 1e6 + cut], max_tokens: 1 })
            : JSON.stringify({ model: MODEL, session_id: id, prompt: 'jury '.repeat(400), max_tokens: 1 })
  return { kind: 'at-protected', method: 'POST', path: how === 'ids' || how === 'too-long' ? ENDPOINTS.completion : ENDPOINTS[b.endpoint], headers, body: text(json) }
})

/** Every generator, weighted so that most requests are rejected before any model work. */
export const hostileRequest: fc.Arbitrary<FuzzRequest> = fc.oneof(
  { arbitrary: truncatedJson, weight: 8 },
  { arbitrary: junkJson, weight: 8 },
  { arbitrary: nonJsonNumbers, weight: 6 },
  { arbitrary: wrongTypes, weight: 12 },
  { arbitrary: extremeNumbers, weight: 10 },
  { arbitrary: unknownFields, weight: 4 },
  { arbitrary: deepNesting, weight: 4 },
  { arbitrary: invalidUtf8, weight: 6 },
  { arbitrary: loneSurrogates, weight: 4 },
  { arbitrary: enormousStrings, weight: 3 },
  { arbitrary: badSessionIds, weight: 8 },
  { arbitrary: methodsPaths, weight: 10 },
  { arbitrary: oddHeaders, weight: 3 },
  { arbitrary: valid, weight: 3 },
  { arbitrary: atProtected, weight: 4 },
)
