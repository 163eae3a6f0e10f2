// Run-in-your-browser (issue 6 item 3): the worker serves the model folder read-only
// (GET /v1/model-files/:file, ETag + no-cache) and the local-mode bundle (GET /web/hymba-local.js);
// the chat page, in headless Debian Chromium, downloads the demo model and generates text in the tab,
// greedy text equal to the worker's. 'auto' picks WASM-SIMD here: the WebGPU adapter is SwiftShader, a
// CPU fallback (measured on the demo model: WASM-SIMD ~100 tokens/s and 50 ms to the first token; WebGPU
// 0.1-0.2 tokens/s and 35 s for a 38-token prompt). The page on WebGPU runs only with
// HYMBA_TEST_WEBGPU_CHAT=1 (~60 s); WebGpuModel itself is checked in this browser by webgpu-browser.test.ts.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Browser, Page } from 'playwright-core'
import { bundleBrowser, LOCAL_CHAT_ENTRY, LOCAL_CHAT_OUT } from '../scripts/build-browser.ts'
import { launchChromium } from './support/chromium.ts'
import { removeDir, startWorker, type RunningWorker } from './worker-harness.ts'

let worker: RunningWorker
let browser: Browser

before(async () => {
  // The page's bundle is a static asset (models/web/, gitignored): build it before workerd starts.
  await bundleBrowser(LOCAL_CHAT_ENTRY, { outfile: LOCAL_CHAT_OUT, minify: true })
  worker = await startWorker()
  browser = await launchChromium()
})

after(async () => {
  await browser?.close()
  await worker?.stop()
  if (worker) removeDir(worker.persistDir)
})

describe('model files route', () => {
  it('serves the model folder read-only with an ETag, and 304 on revalidation', async () => {
    const first = await fetch(new URL('v1/model-files/config.json', worker.url))
    assert.equal(first.status, 200)
    const config = await first.json()
    assert.equal(config.num_hidden_layers, 8)
    assert.match(first.headers.get('cache-control') ?? '', /no-cache/)
    const etag = first.headers.get('etag')
    assert.ok(etag, 'no ETag')
    const again = await fetch(new URL('v1/model-files/config.json', worker.url), { headers: { 'if-none-match': etag } })
    assert.equal(again.status, 304)
    await again.body?.cancel()
    const head = await fetch(new URL('v1/model-files/weights-000.bin', worker.url), { method: 'HEAD' })
    assert.equal(head.status, 200)
  })

  it('answers 404 for names outside the folder and for missing files', async () => {
    for (const file of ['..%2Fwrangler.toml', '.env', 'missing.json', '%2E%2E']) {
      const response = await fetch(new URL(`v1/model-files/${file}`, worker.url))
      assert.equal(response.status, 404, file)
      await response.body?.cancel()
    }
    const response = await fetch(new URL('v1/model-files/web%2Fhymba-local.js', worker.url))
    assert.equal(response.status, 404)
    await response.body?.cancel()
  })

  it('serves the local-mode bundle as JavaScript', async () => {
    const response = await fetch(new URL('web/hymba-local.js', worker.url))
    assert.equal(response.status, 200)
    assert.match(response.headers.get('content-type') ?? '', /javascript/)
    assert.match(await response.text(), /^\/\/ generated from src\/browser\/local-chat\.ts/)
  })
})

const PROMPTS = ['Tell me about the jury.', 'And the city?']

/** Open the page, switch it to local mode on `backend`, and run greedy turns; returns the replies and the meta line. */
async function localChat(backend: 'auto' | 'wasm' | 'webgpu', maxTokens: number, turns: number): Promise<{ replies: string[]; meta: string; loadMs: number }> {
  const page: Page = await browser.newPage()
  try {
    const errors: string[] = []
    page.on('pageerror', (err) => errors.push(err.message))
    await page.goto(worker.url.href)
    await page.click('summary')
    await page.fill('#max', String(maxTokens))
    await page.fill('#temp', '0')
    await page.selectOption('#backend', backend)
    const start = Date.now()
    await page.click('#local')
    await page.waitForFunction(() => /in this browser on/.test(document.getElementById('meta')!.textContent!) || document.querySelector('.error') !== null, null, { timeout: 60_000 })
    assert.equal(await page.locator('.error').count(), 0, (await page.locator('.error').allTextContents()).join('; ') + errors.join('; '))
    const loadMs = Date.now() - start
    const replies: string[] = []
    for (const [n, text] of PROMPTS.slice(0, turns).entries()) {
      await page.fill('#prompt', text)
      await page.click('#send')
      await page.locator('.assistant').nth(n).and(page.locator('[data-state="done"]')).or(page.locator('.error')).first().waitFor({ timeout: 60_000 })
      assert.equal(await page.locator('.error').count(), 0, (await page.locator('.error').allTextContents()).join('; '))
      replies.push((await page.locator('.assistant').nth(n).textContent()) ?? '')
    }
    return { replies, meta: (await page.textContent('#meta')) ?? '', loadMs }
  } finally {
    await page.close()
  }
}

/** The same two turns through the worker's API (greedy), for comparison. */
async function serverReplies(maxTokens: number, turns: number): Promise<string[]> {
  const messages: { role: string; content: string }[] = []
  const replies: string[] = []
  for (const text of PROMPTS.slice(0, turns)) {
    messages.push({ role: 'user', content: text })
    const response = await fetch(new URL('v1/chat/completions', worker.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'hymba-brown-17m', messages, max_tokens: maxTokens, temperature: 0 }),
    })
    const body = await response.json()
    assert.equal(response.status, 200, JSON.stringify(body))
    const reply = body.choices[0].message.content as string
    replies.push(reply)
    messages.push({ role: 'assistant', content: reply })
  }
  return replies
}

describe('chat page in this browser', () => {
  it("generates locally ('auto': WASM-SIMD beside a fallback adapter), two turns, the worker's greedy text", async () => {
    const local = await localChat('auto', 8, 2)
    console.log(`# auto: loaded in ${local.loadMs} ms; ${local.meta}`)
    assert.match(local.meta, /in this browser on wasm/, 'auto should prefer WASM-SIMD to the SwiftShader fallback adapter')
    assert.match(local.meta, /\(\d*[1-9]\d* cached\)/, 'the second turn did not reuse the first')
    assert.ok(local.replies.every((r) => r.length > 0), `empty reply: ${JSON.stringify(local.replies)}`)
    assert.deepEqual(local.replies, await serverReplies(8, 2))
  })

  const webgpu = process.env.HYMBA_TEST_WEBGPU_CHAT === '1' || { skip: 'SwiftShader takes ~60 s: set HYMBA_TEST_WEBGPU_CHAT=1' }
  it("generates locally on WebGPU (one short turn), the worker's greedy text", webgpu === true ? {} : webgpu, async () => {
    const local = await localChat('webgpu', 2, 1)
    console.log(`# webgpu: loaded in ${local.loadMs} ms; ${local.meta}`)
    assert.match(local.meta, /in this browser on webgpu/)
    assert.deepEqual(local.replies, await serverReplies(2, 1))
  })
})
