// Issue 2 acceptance, in full: `hymba ppl` on hymba-brown-17m over brown-val with --seq 256 gives the
// reference mean NLL 5.230435 ± 0.002 over 57,630 tokens (WASM-SIMD backend; ~5–8 minutes here).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { it } from 'node:test'
import { SHARED } from './support/fixtures.ts'

it('hymba ppl reproduces the reference perplexity of hymba-brown-17m', { timeout: 30 * 60_000 }, () => {
  const bin = join(import.meta.dirname, '..', 'bin', 'hymba.js')
  const args = ['ppl', '--model', join(SHARED, 'models', 'hymba-brown-17m'), '--ids', join(SHARED, 'data', 'brown-val', 'val.bin'), '--seq', '256', '--json']
  const run = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 })
  assert.equal(run.status, 0, run.stderr.slice(-2000))
  const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { nll: number; ppl: number; tokens: number }
  assert.equal(result.tokens, 57_630)
  assert.ok(Math.abs(result.nll - 5.230435) <= 0.002, `mean NLL ${result.nll}, reference 5.230435 ± 0.002`)
})
