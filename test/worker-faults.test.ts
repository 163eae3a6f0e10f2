// Faults in the Workers runtime (issue 5 item 2): a session record write that fails half-way (test-only
// TEST_FAULTS hook, worker/faults.ts), workerd stopped in the middle of a turn, a client that
// disconnects mid-stream, and states evicted from the isolate's warm budget. After each, the session
// is either unchanged or fully advanced, and its next turn equals the same turn of a reference worker
// that never failed, bit for bit (tokens, logprobs, usage). A truncated or corrupt model file is
// refused at load with a 503 OpenAI-style error (no paths), on every request, never half-loaded.
import assert from 'node:assert/strict'
import { copyFileSync, linkSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { removeDir, startWorker, type RunningWorker } from './worker-harness.ts'

const MODEL = 'hymba-brown-17m'
const MODEL_DIR = new URL('../models/hymba-brown-17m', import.meta.url).pathname
const cleanup: string[] = []
after(() => cleanup.forEach(removeDir))

const FIRST = [{ role: 'user', content: 'What did the jury say about the city?' }]
const PARAMS = { model: MODEL, temperature: 0, logprobs: true, top_logprobs: 2 }
const secondTurn = (reply: string) => [...FIRST, { role: 'assistant', content: reply }, { role: 'user', content: 'And the mayor?' }]

async function chat(worker: RunningWorker, body: Record<string, unknown>) {
  const r = await fetch(new URL('v1/chat/completions', worker.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...PARAMS, max_tokens: 4, ...body }) })
  return { status: r.status, body: (await r.json()) as any }
}

async function info(worker: RunningWorker, id: string) {
  const r = await fetch(new URL(`v1/sessions/${id}`, worker.url))
  return { status: r.status, body: (await r.json()) as any }
}

/** Start a streamed turn and return once `chunks` SSE events have arrived (the turn is mid-way). */
async function streamUntil(worker: RunningWorker, body: Record<string, unknown>, chunks: number, signal?: AbortSignal) {
  const r = await fetch(new URL('v1/chat/completions', worker.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...PARAMS, ...body, stream: true }), signal })
  assert.equal(r.status, 200)
  const reader = r.body!.getReader()
  let seen = ''
  while (seen.split('data: ').length <= chunks) seen += new TextDecoder().decode((await reader.read()).value)
  return reader
}

/** The reference: turn 1 and turn 2 of one session in a worker that never fails. */
let reference: { reply: string; first: any; second: any }

before(async () => {
  const worker = await startWorker()
  cleanup.push(worker.persistDir)
  try {
    const first = await chat(worker, { messages: FIRST, session_id: 'ref' })
    const reply = first.body.choices[0].message.content
    const second = await chat(worker, { messages: secondTurn(reply), session_id: 'ref' })
    assert.equal(second.status, 200)
    reference = { reply, first: first.body, second: second.body }
  } finally {
    await worker.stop()
  }
})

/** Turn 2 of `id` must equal the reference's turn 2, bit for bit. */
async function assertContinuesLikeReference(worker: RunningWorker, id: string) {
  const second = await chat(worker, { messages: secondTurn(reference.reply), session_id: id })
  assert.equal(second.status, 200, JSON.stringify(second.body))
  assert.deepEqual(second.body.choices, reference.second.choices, `session ${id} diverged from the reference`)
  assert.deepEqual(second.body.usage, reference.second.usage)
}

describe('a session record write that fails half-way', () => {
  it('leaves storage and memory at the previous turn: 503, then the retry and a restart continue bit-identically', async () => {
    // Every session object's 2nd record write throws inside its transaction, after the chunks are in.
    const worker = await startWorker({ vars: { TEST_FAULTS: 'fail-store-write=2' } })
    cleanup.push(worker.persistDir)
    let restarted: RunningWorker | undefined
    try {
      for (const id of ['warm-retry', 'restart-retry']) {
        const first = await chat(worker, { messages: FIRST, session_id: id })
        assert.deepEqual(first.body.choices, reference.first.choices)
        const before = await info(worker, id)
        const failed = await chat(worker, { messages: secondTurn(reference.reply), session_id: id })
        assert.equal(failed.status, 503)
        assert.deepEqual(failed.body, { error: { message: 'The session could not be saved and is unchanged; retry the request', type: 'server_error', param: null, code: 'session_write_failed' } })
        assert.deepEqual(await info(worker, id), before, 'the failed write changed the stored session')
      }
      // A streamed turn has sent its tokens before the commit fails: the error arrives as an event.
      await chat(worker, { messages: FIRST, session_id: 'streamed' })
      const r = await fetch(new URL('v1/chat/completions', worker.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...PARAMS, max_tokens: 4, messages: secondTurn(reference.reply), session_id: 'streamed', stream: true }) })
      const events = (await r.text()).split('\n\n').filter(Boolean)
      assert.equal(events.at(-1), 'data: [DONE]')
      assert.equal(JSON.parse(events.at(-2)!.slice(6)).error.code, 'session_write_failed')
      assert.equal((await info(worker, 'streamed')).body.turns, 1)

      // The object that failed keeps its previous checkpoints in memory: the retry (3rd write) succeeds.
      await assertContinuesLikeReference(worker, 'warm-retry')
      await assertContinuesLikeReference(worker, 'streamed')
      await worker.stop()
      restarted = await startWorker({ persistDir: worker.persistDir })
      assert.equal((await info(restarted, 'restart-retry')).body.turns, 1)
      await assertContinuesLikeReference(restarted, 'restart-retry')
      assert.equal((await info(restarted, 'warm-retry')).body.turns, 2)
    } finally {
      await (restarted ?? worker).stop()
    }
  })
})

describe('workerd stopped in the middle of a turn', () => {
  it('the restarted session is at its previous turn and continues bit-identically', async () => {
    const worker = await startWorker()
    cleanup.push(worker.persistDir)
    await chat(worker, { messages: FIRST, session_id: 'mid' })
    const before = await info(worker, 'mid')
    const reader = await streamUntil(worker, { messages: secondTurn(reference.reply), max_tokens: 400, session_id: 'mid' }, 4)
    await worker.stop() // the process goes away with the turn half-generated
    await reader.read().catch(() => {})
    const restarted = await startWorker({ persistDir: worker.persistDir })
    try {
      assert.deepEqual(await info(restarted, 'mid'), before)
      await assertContinuesLikeReference(restarted, 'mid')
    } finally {
      await restarted.stop()
    }
  })
})

describe('in one running worker', () => {
  let worker: RunningWorker
  before(async () => {
    worker = await startWorker({ vars: { STREAM_STALL_MS: '2000' } })
    cleanup.push(worker.persistDir)
  })
  after(() => worker.stop())

  it('a client disconnect mid-stream rolls the turn back; the session continues bit-identically', async () => {
    await chat(worker, { messages: FIRST, session_id: 'cut' })
    const before = await info(worker, 'cut')
    const abort = new AbortController()
    await streamUntil(worker, { messages: secondTurn(reference.reply), max_tokens: 400, session_id: 'cut' }, 4, abort.signal)
    abort.abort()
    await assertContinuesLikeReference(worker, 'cut') // queued behind the aborted turn
    const afterInfo = await info(worker, 'cut')
    assert.equal(afterInfo.body.turns, before.body.turns + 1)
  })

  it('sessions evicted from the warm-state budget restore from storage bit-identically', async () => {
    await chat(worker, { messages: FIRST, session_id: 'evicted' })
    // Each session keeps ≈ 1.6 MB of checkpoints in memory; 16 more exceed the 16 MiB budget, and the
    // least recently used (the first) is dropped from memory.
    for (let i = 0; i < 16; i++) await chat(worker, { messages: [{ role: 'user', content: `Tell me about session ${i}.` }], max_tokens: 2, session_id: `filler-${i}` })
    const held = ((await (await fetch(new URL('healthz', worker.url))).json()) as any).warm_state_bytes
    const each = (await info(worker, 'evicted')).body.state_bytes
    assert.ok(held < 17 * each, `nothing was evicted: ${held} bytes warm for 17 sessions of ${each}`)
    assert.ok(held <= 16 * 2 ** 20)
    await assertContinuesLikeReference(worker, 'evicted')
  })
})

describe('a broken model folder', () => {
  const assets = join(new URL('../.tmp', import.meta.url).pathname, `broken-assets-${process.pid}`)
  const SHARD = 'weights-000.bin' // the embedded model is an int8 bundle (manifest.json + weights)
  before(() => {
    for (const variant of ['truncated', 'flipped-byte']) {
      const dir = join(assets, variant)
      mkdirSync(dir, { recursive: true })
      for (const file of readdirSync(MODEL_DIR).filter((f) => f !== SHARD)) {
        try {
          linkSync(join(MODEL_DIR, file), join(dir, file))
        } catch {
          copyFileSync(join(MODEL_DIR, file), join(dir, file))
        }
      }
      const shard = readFileSync(join(MODEL_DIR, SHARD))
      if (variant === 'truncated') writeFileSync(join(dir, SHARD), shard.subarray(0, shard.byteLength >> 1))
      else {
        const damaged = Buffer.from(shard)
        damaged[damaged.byteLength >> 1] ^= 0x10 // one bit inside the weights: only the SHA-256 sees it
        writeFileSync(join(dir, SHARD), damaged)
      }
    }
    cleanup.push(assets)
  })

  for (const variant of ['truncated', 'flipped-byte'])
    it(`${variant} weights file: every request gets a 503 model_unavailable without internals`, async () => {
      const worker = await startWorker({ assetsDir: assets, vars: { MODEL_DIR: variant } })
      cleanup.push(worker.persistDir)
      try {
        // Twice each, with and without a session: a failed load is never cached half-done.
        for (const body of [{}, { session_id: 's' }, {}, { session_id: 's' }]) {
          const r = await chat(worker, { messages: FIRST, max_tokens: 1, ...body })
          assert.equal(r.status, 503)
          assert.deepEqual(r.body, { error: { message: 'the model could not be loaded', type: 'server_error', param: null, code: 'model_unavailable' } })
        }
        assert.equal((await info(worker, 's')).status, 404, 'a session was stored without a model')
        const health = await fetch(new URL('healthz', worker.url))
        assert.equal(health.status, 200)
      } finally {
        await worker.stop()
      }
    })
})
