// The chat page (GET /) in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core):
// two messages stream replies through the worker's API in one session, and the second turn reuses the
// first (issue 4 acceptance).
import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { chromium, type Browser } from 'playwright-core'
import { removeDir, startWorker, type RunningWorker } from './worker-harness.ts'

let worker: RunningWorker
let browser: Browser

before(async () => {
  worker = await startWorker()
  // Flags from the machine notes: without the background-networking ones Chromium keeps dialling out.
  // playwright gives it a new empty profile itself.
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
})

after(async () => {
  await browser?.close()
  await worker?.stop()
  removeDir(worker.persistDir)
})

it('the chat page streams replies in one session', async () => {
  const page = await browser.newPage()
  await page.goto(worker.url.href)
  await page.waitForFunction(() => document.getElementById('meta')!.textContent!.includes('session'))
  await page.click('summary') // open Settings
  await page.fill('#max', '6')
  await page.fill('#temp', '0')

  const turn = async (text: string, n: number) => {
    await page.fill('#prompt', text)
    await page.click('#send')
    const reply = page.locator('.assistant').nth(n)
    await reply.and(page.locator('[data-state="done"]')).waitFor({ timeout: 60_000 })
    assert.equal(await page.locator('.error').count(), 0, (await page.locator('.error').allTextContents()).join('; '))
    return (await reply.textContent()) ?? ''
  }
  assert.ok((await turn('Tell me about the jury.', 0)).length > 0, 'empty first reply')
  assert.ok((await turn('And the city?', 1)).length > 0, 'empty second reply')
  const meta = (await page.textContent('#meta')) ?? ''
  const cached = /\((\d+) cached\)/.exec(meta)
  assert.ok(cached && Number(cached[1]) > 0, `no reuse reported on the second turn: ${meta}`)

  const sessionId = await page.evaluate(() => sessionStorage.getItem('hymba-session'))
  const info = await (await fetch(new URL(`v1/sessions/${sessionId}`, worker.url))).json()
  assert.equal(info.turns, 2)
})
