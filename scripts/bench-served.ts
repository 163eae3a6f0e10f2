// `npm run bench:served`: tokens/s as a client sees them, through the worker in workerd (Miniflare,
// the bundle in dist/ that `npm run build:worker` writes, the shipped model): streamed chat
// completions of 120 tokens per sampling setting, greedy first as the model-bound baseline of the
// same run. Prints a table and writes bench/served.json.
import { writeFileSync } from 'node:fs'
import { startWorker } from '../test/worker-harness.ts'

const TOKENS = 120
const REPS = 3
const settings: Array<[string, Record<string, unknown>]> = [
  ['greedy (temperature 0)', { temperature: 0 }],
  ['temperature 1 (API default)', {}],
  ['temperature 0.7, top_p 0.9', { temperature: 0.7, top_p: 0.9 }],
  ['temperature 1, logprobs, top_logprobs 5', { logprobs: true, top_logprobs: 5 }],
]

const worker = await startWorker()
/** One streamed completion: ms per token after the first, time to the first byte, tokens. */
async function completion(extra: Record<string, unknown>): Promise<{ msPerToken: number; ttftMs: number; tokens: number }> {
  const t0 = performance.now()
  const response = await fetch(new URL('v1/chat/completions', worker.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'hymba-brown-17m', messages: [{ role: 'user', content: 'Tell me about the jury and the city.' }], max_tokens: TOKENS, stream: true, stream_options: { include_usage: true }, seed: 1, ...extra }),
  })
  if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}: ${await response.text()}`)
  const reader = response.body.getReader()
  const decoder = new TextDecoder()
  let first = 0
  let text = ''
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    first ||= performance.now()
    text += decoder.decode(value, { stream: true })
  }
  const end = performance.now()
  const usageLine = text.split('\n').find((l) => l.includes('"usage":{'))
  if (!usageLine) throw new Error(`no usage chunk in the stream: ${text.slice(0, 300)}`)
  const tokens: number = JSON.parse(usageLine.slice('data: '.length)).usage.completion_tokens
  return { msPerToken: (end - first) / Math.max(1, tokens - 1), ttftMs: first - t0, tokens }
}

try {
  await completion({ temperature: 0, max_tokens: 8 }) // loads the engine
  const rows = []
  for (const [name, extra] of settings) {
    const runs = []
    for (let r = 0; r < REPS; r++) runs.push(await completion(extra))
    runs.sort((a, b) => a.msPerToken - b.msPerToken)
    const median = runs[REPS >> 1]
    rows.push({ name, request: extra, ...median, tokensPerS: 1e3 / median.msPerToken })
  }
  const base = rows[0].msPerToken
  console.log(`| streamed chat completion, ${TOKENS} tokens, median of ${REPS} | ms a token | tokens/s | × greedy's time | TTFT ms |`)
  console.log('|---|---|---|---|---|')
  for (const r of rows) console.log(`| ${r.name} | ${r.msPerToken.toFixed(2)} | ${r.tokensPerS.toFixed(0)} | ${(r.msPerToken / base).toFixed(2)} | ${r.ttftMs.toFixed(0)} |`)
  writeFileSync(new URL('../bench/served.json', import.meta.url), JSON.stringify({ date: new Date().toISOString(), command: 'npm run bench:served', tokens: TOKENS, repetitions: REPS, rows }, null, 2) + '\n')
  console.log('wrote bench/served.json')
} finally {
  await worker.stop()
}
