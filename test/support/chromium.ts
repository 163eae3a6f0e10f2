// Test support: launching headless Debian Chromium (/usr/bin/chromium, or CHROMIUM_PATH) through
// playwright-core with WebGPU on. Flags from ../shared/docs/webgpu-notes.md: --enable-unsafe-webgpu
// (requestAdapter() is null without it; the adapter here is SwiftShader, without shader-f16); the
// background-networking ones keep Chromium from dialling out of this offline machine.
import { chromium, type Browser } from 'playwright-core'

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS })
}
