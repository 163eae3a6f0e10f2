// The real-browser WebGPU tier (issue 6 item 4): headless Debian Chromium (/usr/bin/chromium, driven by
// playwright-core) with --enable-unsafe-webgpu, whose adapter here is SwiftShader (CPU; no shader-f16).
// A page bundled by scripts/build-browser.ts runs every WGSL kernel against the reference kernels and
// fixtures A/B through WebGpuModel within 1e-3 of NVIDIA's logits; each check is reported here.
// The fixture files are served from ../shared/reference by a static server on loopback.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join, normalize } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Browser, Page } from 'playwright-core'
import { bundleBrowser } from '../scripts/build-browser.ts'
import { launchChromium } from './support/chromium.ts'
import { SHARED } from './support/fixtures.ts'
import type { CheckResult } from './webgpu-browser/page.ts'

const HTML = '<!doctype html><meta charset="utf-8"><title>WebGPU tier</title><script type="module" src="/page.js"></script>'

let server: Server
let browser: Browser
let page: Page
let names: string[] = []

async function serve(bundle: string): Promise<URL> {
  const reference = join(SHARED, 'reference')
  server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    try {
      if (path === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end(HTML)
      if (path === '/page.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle)
      const file = normalize(join(reference, decodeURIComponent(path.replace(/^\/reference\//, ''))))
      if (!path.startsWith('/reference/') || !file.startsWith(reference + '/')) return res.writeHead(404).end()
      const bytes = await readFile(file)
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.byteLength })
      res.end(req.method === 'HEAD' ? undefined : bytes)
    } catch {
      res.writeHead(404).end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
}

describe('WebGPU kernels and model (headless Chromium)', () => {
  before(async () => {
    const url = await serve(await bundleBrowser(join(import.meta.dirname, 'webgpu-browser/page.ts')))
    browser = await launchChromium()
    page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', (err) => errors.push(err.message))
    await page.goto(url.href)
    await page.waitForFunction(() => 'webgpuTier' in globalThis, null, { timeout: 10_000 }).catch(() => {
      throw new Error(`the test page did not start: ${errors.join('; ')}`)
    })
    names = await page.evaluate(() => (globalThis as any).webgpuTier.names())
  })

  after(async () => {
    await browser?.close()
    server?.close()
  })

  it('the browser has a WebGPU adapter and compiles every kernel', async () => {
    const adapter = await page.evaluate(() => (globalThis as any).webgpuTier.adapter())
    console.log(`# adapter: ${adapter.name || '(no name)'}; shader-f16: ${adapter.f16}`)
    assert.ok(names.length > 0)
  })

  it('every kernel and fixture check passes', async (t) => {
    const filter = process.env.WEBGPU_FILTER ?? '' // run only the checks whose name contains this
    for (const name of names.filter((n) => n.includes(filter))) {
      await t.test(name, async (s) => {
        const result: CheckResult = await page.evaluate((n) => (globalThis as any).webgpuTier.run(n), name)
        s.diagnostic(`${result.ms.toFixed(0)} ms`)
        assert.ok(result.ok, result.message)
      })
    }
  })
})
