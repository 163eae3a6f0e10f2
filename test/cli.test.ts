// The `hymba` command line, run as users run it (bin/hymba.js): logits on a fixture, ppl on a few
// chunks, generate, and usage errors.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { SHARED, expectClose, fixtureDir, readFixture } from './support/fixtures.ts'

const BIN = join(import.meta.dirname, '..', 'bin', 'hymba.js')
const hymba = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' })
const BROWN = join(SHARED, 'models', 'hymba-brown-17m')

describe('hymba CLI', () => {
  it('logits writes prefill, decode and full logits that match fixture B', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'hymba-cli-')), 'logits.json')
    const run = hymba('logits', '--model', fixtureDir('B'), '--cases', join(fixtureDir('B'), 'cases.json'), '--out', out)
    assert.equal(run.status, 0, run.stderr)
    const result = JSON.parse(readFileSync(out, 'utf8'))
    const fixture = readFixture('B')
    expectClose(result.logits_prefill.flat(), fixture.logitsPrefill, 1e-4, 'logits_prefill')
    expectClose(result.logits_decode.flat(), fixture.logitsDecode, 1e-4, 'logits_decode')
    expectClose(result.logits_full.flat(), fixture.logitsFull, 1e-4, 'logits_full')
  })

  it('ppl --json ends with {nll, ppl, tokens}', () => {
    const run = hymba('ppl', '--model', BROWN, '--ids', join(SHARED, 'data', 'brown-val', 'val.bin'), '--seq', '32', '--limit', '2', '--json')
    assert.equal(run.status, 0, run.stderr)
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!)
    assert.equal(result.tokens, 62)
    assert.ok(result.nll > 2 && result.nll < 9, `nll ${result.nll}`)
    assert.ok(Math.abs(result.ppl - Math.exp(result.nll)) < 1e-9)
  })

  it('generate streams a seeded continuation reproducibly', () => {
    const args = ['generate', '--model', BROWN, '--prompt', 'The jury said', '--max-tokens', '8', '--seed', '7']
    const a = hymba(...args)
    assert.equal(a.status, 0, a.stderr)
    assert.ok(a.stdout.startsWith('The jury said') && a.stdout.length > 'The jury said'.length + 4, a.stdout)
    assert.equal(hymba(...args).stdout, a.stdout)
  })

  for (const args of [[], ['bogus'], ['ppl', '--model', BROWN], ['ppl', '--model', BROWN, '--ids', 'x', '--seq', 'ten'], ['generate', '--nope']]) {
    it(`exits non-zero with usage for: ${args.join(' ') || '(nothing)'}`, () => {
      const run = hymba(...args)
      assert.notEqual(run.status, 0)
      assert.match(run.stderr, /usage: hymba/)
    })
  }

  it('reports a bad model folder as an error, not a crash', () => {
    const run = hymba('generate', '--model', mkdtempSync(join(tmpdir(), 'hymba-none-')), '--prompt', 'x')
    assert.equal(run.status, 1)
    assert.match(run.stderr, /config\.json/)
    assert.doesNotMatch(run.stderr, /at .*\.ts:\d+/)
  })
})
