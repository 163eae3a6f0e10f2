// Limits in the Workers runtime (issue 5 items 3 and 5): the per-session queue answers 429 beyond
// MAX_QUEUED_PER_SESSION and the session stays consistent; the per-key concurrency limit
// (MAX_CONCURRENT_PER_KEY, worker/key-slots.ts) answers 429 for that key only and gives slots back when
// responses end or clients leave; bodies over the limit without a Content-Length, and chat prompts and
// max_completion_tokens over theirs, are 4xx with OpenAI-style bodies.
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { removeDir, startWorker, type RunningWorker } from './worker-harness.ts'

const MODEL = 'hymba-brown-17m'
let worker: RunningWorker

before(async () => {
  worker = await startWorker({ vars: { API_KEYS: 'key-a,key-b', MAX_CONCURRENT_PER_KEY: '4', MAX_QUEUED_PER_SESSION: '2', STREAM_STALL_MS: '1500', MAX_TURNS_PER_ISOLATE: '4' } })
})
after(async () => {
  await worker.stop()
  removeDir(worker.persistDir)
})

const messages = [{ role: 'user', content: 'Tell me a long story about the jury.' }]

function post(key: string, body: Record<string, unknown>, init: RequestInit = {}) {
  return fetch(new URL('v1/chat/completions', worker.url), { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ model: MODEL, messages, temperature: 0, ...body }), ...init })
}

async function result(r: Response) {
  return { status: r.status, body: (await r.json()) as any }
}

function assertError(r: { status: number; body: any }, status: number, code: string) {
  assert.equal(r.status, status, JSON.stringify(r.body))
  assert.deepEqual(Object.keys(r.body), ['error'])
  assert.deepEqual(Object.keys(r.body.error).sort(), ['code', 'message', 'param', 'type'])
  assert.equal(r.body.error.code, code)
}

describe('per-session queue', () => {
  it(`beyond MAX_QUEUED_PER_SESSION (2) answers 429 session_busy; the accepted turns all commit`, async () => {
    // 4 requests at once (key b has 4 slots): one runs, one waits, the others are refused.
    const results = await Promise.all(Array.from({ length: 4 }, () => post('key-b', { max_tokens: 24, session_id: 'queue' }).then(result)))
    const ok = results.filter((r) => r.status === 200)
    const busy = results.filter((r) => r.status !== 200)
    for (const r of busy) assertError(r, 429, 'session_busy')
    assert.ok(busy.length >= 1, 'nothing was refused')
    assert.ok(ok.length >= 2, `only ${ok.length} accepted`)
    const info = (await (await fetch(new URL('v1/sessions/queue', worker.url), { headers: { authorization: 'Bearer key-b' } })).json()) as any
    assert.equal(info.turns, ok.length)
    assert.equal(new Set(ok.map((r) => r.body.choices[0].message.content)).size, 1, 'greedy replies differ')
  })
})

describe('per-key concurrency', () => {
  it('beyond MAX_CONCURRENT_PER_KEY (4) answers 429 for that key only, and frees slots as responses end', async () => {
    // Four streams of key a hold its four slots while they are being read (all four run: the isolate
    // admits 4 turns here, so none waits for another to finish).
    const streams = await Promise.all([0, 1, 2, 3].map((i) => post('key-a', { max_tokens: 300, stream: true, ...(i ? { session_id: `slot-${i}` } : {}) })))
    for (const s of streams) assert.equal(s.status, 200)
    assertError(await result(await post('key-a', { max_tokens: 1 })), 429, 'too_many_concurrent_requests')
    assertError(await result(await post('key-a', { max_tokens: 1, session_id: 'other' })), 429, 'too_many_concurrent_requests')
    assert.equal((await post('key-b', { max_tokens: 1 })).status, 200, 'key b is limited by key a')
    // GET and DELETE of sessions take no slot.
    assert.equal((await fetch(new URL('v1/sessions/none', worker.url), { headers: { authorization: 'Bearer key-a' } })).status, 404)

    // The four clients leave mid-stream (one stateless turn, three session turns); their slots come back.
    await Promise.all(streams.map((s) => s.body!.cancel()))
    const deadline = Date.now() + 15_000
    const fourAtOnce = () => Promise.all([0, 1, 2, 3].map(() => post('key-a', { max_tokens: 1 }).then((r) => r.arrayBuffer().then(() => r.status))))
    let statuses: number[] = []
    while (Date.now() < deadline) {
      statuses = await fourAtOnce()
      if (statuses.every((s) => s === 200)) break
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    assert.deepEqual(statuses, [200, 200, 200, 200], 'slots of disconnected clients were not given back')
    assert.deepEqual(await fourAtOnce(), [200, 200, 200, 200], 'slots of completed responses were not given back')
  })
})

describe('request limits', () => {
  it('a body over MAX_BODY_BYTES sent without Content-Length is 413', async () => {
    // Chunked (no Content-Length) on a fresh connection (agent: false): fetch's pool may hand out a
    // keep-alive socket that the earlier suites' aborted streams left closing, and a streamed POST is
    // never retried ("fetch failed" after 12 ms in one CI run, before any byte was answered).
    const url = new URL('v1/chat/completions', worker.url)
    const r = await new Promise<{ status: number; body: any }>((resolve, reject) => {
      const req = request(url, { method: 'POST', agent: false, headers: { authorization: 'Bearer key-b', 'content-type': 'application/json' } }, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (text += d))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }))
      })
      req.on('error', reject)
      for (let i = 0; i < 8; i++) req.write(' '.repeat(64 * 1024))
      req.end()
    })
    assertError(r, 413, 'body_too_large')
  })

  it('a chat prompt over MAX_PROMPT_TOKENS is 400 context_length_exceeded, with or without a session', async () => {
    const long = [{ role: 'user', content: 'jury '.repeat(2100) }]
    assertError(await result(await post('key-b', { messages: long, max_tokens: 1 })), 400, 'context_length_exceeded')
    assertError(await result(await post('key-b', { messages: long, max_tokens: 1, session_id: 'long' })), 400, 'context_length_exceeded')
    assert.equal((await fetch(new URL('v1/sessions/long', worker.url), { headers: { authorization: 'Bearer key-b' } })).status, 404)
  })

  it('max_completion_tokens over MAX_COMPLETION_TOKENS is 400 max_tokens_exceeded', async () => {
    assertError(await result(await post('key-b', { max_completion_tokens: 513 })), 400, 'max_tokens_exceeded')
  })
})
