// `npm run fuzz`: the full fuzz run of issue 5 item 1 against the bundled worker in Miniflare
// (`npm run build:worker` first; the npm script does it). Options: --requests N (default 10000),
// --seed S (default 20260501), --concurrency C (default 8), --out FILE (default bench/fuzz.json).
// Exits 1 on any failure. The fixed-seed subset in npm test is test/worker-fuzz.test.ts.
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { parseArgs } from 'node:util'
import { FUZZ_VARS, fuzzWorker } from '../test/fuzz/run.ts'
import { removeDir, startWorker } from '../test/worker-harness.ts'

const { values } = parseArgs({ options: { requests: { type: 'string', default: '10000' }, seed: { type: 'string', default: '20260501' }, concurrency: { type: 'string', default: '8' }, out: { type: 'string', default: 'bench/fuzz.json' } } })

const worker = await startWorker({ vars: { ...FUZZ_VARS } })
try {
  const report = await fuzzWorker(worker, { seed: Number(values.seed), requests: Number(values.requests), concurrency: Number(values.concurrency) })
  const out = { generated: new Date().toISOString(), command: `npm run fuzz -- --requests ${values.requests} --seed ${values.seed} --concurrency ${values.concurrency}`, ...report }
  mkdirSync(dirname(values.out), { recursive: true })
  writeFileSync(values.out, JSON.stringify(out, null, 2) + '\n')
  const { protectedSessions: p } = report
  console.log(`${report.requests} requests in ${(report.durationMs / 1000).toFixed(1)} s, statuses ${JSON.stringify(report.statuses)}`)
  console.log(`failures: ${report.failureCount} (requests resent after a closed connection: ${report.retries}); protected sessions unchanged: ${p.unchanged}, resumed bit-identically: ${p.resumedIdentically}; report: ${values.out}`)
  for (const f of report.failures.slice(0, 10)) console.log('  ', JSON.stringify(f))
  process.exitCode = report.failureCount === 0 && p.unchanged && p.resumedIdentically ? 0 : 1
} finally {
  await worker.stop()
  removeDir(worker.persistDir)
}
