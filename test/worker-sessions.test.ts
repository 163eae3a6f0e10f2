// Session durability and isolation in the Workers runtime: a Durable Object restarted between turns
// (workerd stopped, started again on the same storage) continues bit-identically to one that stayed
// warm, and with API keys configured a key can never read, continue or delete another key's session
// (issue 4 acceptance).
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { removeDir, startWorker, type RunningWorker } from './worker-harness.ts'

const MODEL = 'hymba-brown-17m'
const cleanup: string[] = []
after(() => cleanup.forEach(removeDir))

async function chat(worker: RunningWorker, body: Record<string, unknown>, key?: string) {
  const r = await fetch(new URL('v1/chat/completions', worker.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ model: MODEL, temperature: 0, ...body }),
  })
  return { status: r.status, body: (await r.json()) as any }
}

describe('restarting the Durable Object between turns', () => {
  it('loses nothing: the restored session continues bit-identically', async () => {
    const turn1 = [{ role: 'user', content: 'Where is the city hall?' }]
    const turn2 = (reply: string) => [...turn1, { role: 'assistant', content: reply }, { role: 'user', content: 'And the jury?' }]
    const params = { max_tokens: 4, logprobs: true, top_logprobs: 2 }

    const first = await startWorker()
    cleanup.push(first.persistDir)
    const warm1 = await chat(first, { ...params, messages: turn1, session_id: 'warm' })
    const cold1 = await chat(first, { ...params, messages: turn1, session_id: 'cold' })
    assert.deepEqual(cold1.body.choices, warm1.body.choices)
    const reply = warm1.body.choices[0].message.content
    const warm2 = await chat(first, { ...params, messages: turn2(reply), session_id: 'warm' })
    // the default WASM_KERNELS ("auto") runs the relaxed-SIMD kernels in workerd
    assert.equal(((await (await fetch(new URL('healthz', first.url))).json()) as { kernels: string }).kernels, 'wasm-relaxed-simd')
    const before = await (await fetch(new URL('v1/sessions/cold', first.url))).json()
    await first.stop()

    const second = await startWorker({ persistDir: first.persistDir })
    try {
      const after = await (await fetch(new URL('v1/sessions/cold', second.url))).json()
      assert.deepEqual(after, before)
      const cold2 = await chat(second, { ...params, messages: turn2(reply), session_id: 'cold' })
      assert.equal(cold2.status, 200)
      assert.deepEqual(cold2.body.choices, warm2.body.choices, 'the restored session diverged from the warm one')
      assert.deepEqual(cold2.body.usage, warm2.body.usage)
      assert.ok(cold2.body.usage.prompt_tokens_details.cached_tokens >= warm1.body.usage.prompt_tokens)
    } finally {
      await second.stop()
    }
  })
})

describe('API keys', () => {
  it('require a key, namespace sessions per key, and answer 404 across keys', async () => {
    const worker = await startWorker({ vars: { API_KEYS: 'key-alice, key-bob' } })
    cleanup.push(worker.persistDir)
    try {
      const messages = [{ role: 'user', content: 'Hello.' }]
      const none = await chat(worker, { messages, max_tokens: 1 })
      assert.equal(none.status, 401)
      assert.equal(none.body.error.code, 'missing_api_key')
      const wrong = await chat(worker, { messages, max_tokens: 1 }, 'key-eve')
      assert.equal(wrong.status, 401)
      assert.equal(wrong.body.error.code, 'invalid_api_key')
      assert.equal((await fetch(new URL('v1/models', worker.url))).status, 401)
      assert.equal((await fetch(new URL('healthz', worker.url))).status, 200)
      assert.equal((await fetch(worker.url)).status, 200, 'the chat page is public (it asks for a key)')

      const alice = await chat(worker, { messages, max_tokens: 2, session_id: 'shared-name' }, 'key-alice')
      assert.equal(alice.status, 200)
      const get = (key: string, method = 'GET') => fetch(new URL('v1/sessions/shared-name', worker.url), { method, headers: { authorization: `Bearer ${key}` } })
      assert.equal((await get('key-alice')).status, 200)
      const bobRead = await get('key-bob')
      assert.equal(bobRead.status, 404)
      assert.equal(((await bobRead.json()) as any).error.code, 'session_not_found')
      assert.equal((await get('key-bob', 'DELETE')).status, 404)
      // Bob's request with the same session_id runs in Bob's own session: nothing of Alice's is reused.
      const bob = await chat(worker, { messages, max_tokens: 2, session_id: 'shared-name' }, 'key-bob')
      assert.equal(bob.status, 200)
      assert.equal(bob.body.usage.prompt_tokens_details.cached_tokens, 0)
      const aliceInfo = (await (await get('key-alice')).json()) as any
      assert.equal(aliceInfo.turns, 1, "Bob's turn landed in Alice's session")
      assert.equal((await get('key-alice', 'DELETE')).status, 200)
      assert.equal((await get('key-bob')).status, 200, "deleting Alice's session touched Bob's")
    } finally {
      await worker.stop()
    }
  })
})
