// Issue 2 acceptance: `hymba ppl` on hymba-brown-17m over brown-val with --seq 256 must give the
// reference mean NLL 5.230435 ± 0.002 over 57,630 tokens (models/hymba-brown-17m/README.md).
//   node --import tsx scripts/check-ppl.ts [--backend B] [--model DIR]
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { parseFlags } from '../src/cli/args.ts'

const REFERENCE_NLL = 5.230435
const TOLERANCE = 0.002
const REFERENCE_TOKENS = 57_630

const root = join(import.meta.dirname, '..')
const shared = process.env.HYMBA_SHARED ?? join(root, '..', 'shared')
const flags = parseFlags(process.argv.slice(2), { backend: { type: 'string' }, model: { type: 'string' } })
const model = flags.model ?? join(shared, 'models', 'hymba-brown-17m')
const args = [join(root, 'bin', 'hymba.js'), 'ppl', '--model', model, '--ids', join(shared, 'data', 'brown-val', 'val.bin'), '--seq', '256', '--json']
if (flags.backend) args.push('--backend', flags.backend)
const started = performance.now()
const run = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
if (run.status !== 0) process.exit(run.status ?? 1)
const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { nll: number; ppl: number; tokens: number }
const seconds = (performance.now() - started) / 1000
const ok = Math.abs(result.nll - REFERENCE_NLL) <= TOLERANCE && result.tokens === REFERENCE_TOKENS
console.log(`mean NLL ${result.nll.toFixed(6)} (reference ${REFERENCE_NLL} ± ${TOLERANCE}), perplexity ${result.ppl.toFixed(3)}, ${result.tokens} tokens, ${seconds.toFixed(0)} s`)
console.log(ok ? '1 passed, 0 failed' : '0 passed, 1 failed')
process.exit(ok ? 0 : 1)
