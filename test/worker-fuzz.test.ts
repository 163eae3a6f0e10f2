// Fuzzing the worker in the Workers runtime (issue 5 item 1), fixed-seed subset: 600 hostile requests
// (test/fuzz/requests.ts) each get a 4xx with an OpenAI-style error body or a well-formed 2xx, never a
// 5xx, a dropped connection or internal details; protected sessions stay unchanged and continue
// bit-identically to untouched twins. The full run (10,000+) is `npm run fuzz`.
import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { FUZZ_VARS, fuzzWorker } from './fuzz/run.ts'
import { removeDir, startWorker, type RunningWorker } from './worker-harness.ts'

let worker: RunningWorker
before(async () => {
  worker = await startWorker({ vars: { ...FUZZ_VARS } })
})
after(async () => {
  await worker.stop()
  removeDir(worker.persistDir)
})

it('600 hostile requests: no 5xx, OpenAI-style 4xx bodies, sessions undisturbed', async () => {
  const report = await fuzzWorker(worker, { seed: 5, requests: 600, concurrency: 4 })
  assert.deepEqual(report.failures, [], `${report.failureCount} bad responses`)
  assert.equal(report.requests, 600)
  assert.ok(!Object.keys(report.statuses).some((s) => s === 'none' || Number(s) >= 500), JSON.stringify(report.statuses))
  // The generators reach every kind of rejection and some real generation.
  for (const status of ['200', '400', '401', '404', '413']) assert.ok(report.statuses[status]! > 0, `no ${status} in ${JSON.stringify(report.statuses)}`)
  assert.ok(report.protectedSessions.unchanged, 'a protected session changed during fuzzing')
  assert.ok(report.protectedSessions.resumedIdentically, 'a protected session diverged from its twin')
})
