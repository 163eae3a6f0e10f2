// Issue 3, deliverable 4: quantisation quality. Converts the demo model to f32, int8 and int4 bundles
// in a temporary folder, runs `hymba ppl` on each (the protocol of models/hymba-brown-17m/README.md:
// 256-token chunks of brown-val, each a fresh prefill), prints a table and writes bench/quality.json.
// Targets: int8 within +0.5 % mean NLL of f32, int4 within +3 %.
//   node --import tsx scripts/check-quality.ts [--backend B (default wasm, the fastest)] [--limit CHUNKS] [--model DIR] [--out FILE]
// Must not import: worker/.
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { BundleManifest } from '../src/bundle/format.ts'
import { parseFlags } from '../src/cli/args.ts'

const TARGETS = { f32: 0, int8: 0.005, int4: 0.03 } as const // allowed relative increase of mean NLL over f32
const SEQ = 256

const root = join(import.meta.dirname, '..')
const shared = process.env.HYMBA_SHARED ?? join(root, '..', 'shared')
const flags = parseFlags(process.argv.slice(2), { backend: { type: 'string' }, limit: { type: 'number' }, model: { type: 'string' }, out: { type: 'string' } })
const model = flags.model ?? join(shared, 'models', 'hymba-brown-17m')
const out = flags.out ?? join(root, 'bench', 'quality.json')
const ids = join(shared, 'data', 'brown-val', 'val.bin')
const backend = flags.backend ?? 'wasm'

/** Run the hymba CLI; stderr (progress) passes through, stdout is returned. */
function hymba(...args: string[]): string {
  const run = spawnSync(process.execPath, [join(root, 'bin', 'hymba.js'), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  if (run.status !== 0) throw new Error(`hymba ${args.join(' ')} exited with ${run.status}`)
  return run.stdout
}

const work = mkdtempSync(join(tmpdir(), 'hymba-quality-'))
const results: { quant: keyof typeof TARGETS; group: number | null; weightBytes: number; nll: number; ppl: number; tokens: number; seconds: number }[] = []
try {
  for (const quant of Object.keys(TARGETS) as (keyof typeof TARGETS)[]) {
    const bundle = join(work, quant)
    hymba('convert', '--from', model, '--to', bundle, '--quant', quant)
    const manifest = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8')) as BundleManifest
    const pplArgs = ['ppl', '--model', bundle, '--ids', ids, '--seq', String(SEQ), '--json', '--backend', backend]
    if (flags.limit !== undefined) pplArgs.push('--limit', String(flags.limit))
    const started = performance.now()
    const { nll, ppl, tokens } = JSON.parse(hymba(...pplArgs).trim().split('\n').at(-1)!) as { nll: number; ppl: number; tokens: number }
    const bytes = manifest.files.filter((f) => f.name.startsWith('weights-')).reduce((sum, f) => sum + f.bytes, 0)
    results.push({ quant, group: manifest.group, weightBytes: bytes, nll, ppl, tokens, seconds: Math.round((performance.now() - started) / 1000) })
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}

const f32 = results[0].nll
const rows = results.map((r) => {
  const ratio = r.nll / f32
  return { ...r, ratioToF32: ratio, target: 1 + TARGETS[r.quant], ok: ratio <= 1 + TARGETS[r.quant] }
})
const report = {
  model,
  backend,
  protocol: `hymba ppl --seq ${SEQ}${flags.limit === undefined ? '' : ` --limit ${flags.limit}`} on brown-val`,
  command: ['npm run check:quality', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
  results: rows,
}
mkdirSync(dirname(out), { recursive: true })
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`)

console.log(`${'quant'.padEnd(6)}${'group'.padStart(6)}${'weights MiB'.padStart(13)}${'mean NLL'.padStart(11)}${'ppl'.padStart(10)}${'vs f32'.padStart(10)}${'target'.padStart(9)}${'tokens'.padStart(8)}${'s'.padStart(6)}`)
for (const r of rows) {
  const change = `${((r.ratioToF32 - 1) * 100).toFixed(3)} %`
  const target = r.quant === 'f32' ? '' : `+${(TARGETS[r.quant] * 100).toFixed(1)} %`
  console.log(`${r.quant.padEnd(6)}${String(r.group ?? '').padStart(6)}${(r.weightBytes / 2 ** 20).toFixed(1).padStart(13)}${r.nll.toFixed(6).padStart(11)}${r.ppl.toFixed(3).padStart(10)}${change.padStart(10)}${target.padStart(9)}${String(r.tokens).padStart(8)}${String(r.seconds).padStart(6)}  ${r.ok ? 'ok' : 'MISSED'}`)
}
console.log(`wrote ${out}`)
process.exit(rows.every((r) => r.ok) ? 0 : 1)
