// `npm run load`: load test of issue 5 item 4. Bundles the worker into a temporary folder and starts
// `wrangler dev` on that bundle (so edits to the working tree do not reload it mid-run; offline,
// loopback only, on a free port, Durable Object state in the same folder) in its own process group,
// drives SESSIONS
// concurrent chat sessions × TURNS streamed turns each (bounded in count and time), and writes
// bench/load.json: errors, time to first token and total latency (p50/p99), completion tokens/s, and
// the peak RSS of the workerd process (VmHWM from /proc). The process group is always killed.
// Options: --sessions 50 --turns 5 --max-tokens 8 --deadline-s 540 --out bench/load.json.
// With API keys in .dev.vars, pass one in HYMBA_KEY.
import { execFileSync, spawn } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { sessions: { type: 'string', default: '50' }, turns: { type: 'string', default: '5' }, 'max-tokens': { type: 'string', default: '8' }, 'deadline-s': { type: 'string', default: '540' }, out: { type: 'string', default: 'bench/load.json' } } })
const SESSIONS = Number(values.sessions)
const TURNS = Number(values.turns)
const MAX_TOKENS = Number(values['max-tokens'])
const DEADLINE = Date.now() + Number(values['deadline-s']) * 1000
const ROOT = new URL('..', import.meta.url).pathname
const MODEL = 'hymba-brown-17m'

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** Pids of the process group `pgid` whose command is workerd. */
function workerdPids(pgid: number): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // after "pid (comm) "
      if (Number(fields[2]) === pgid && stat.includes('(workerd)')) pids.push(Number(entry))
    } catch {
      // the process ended while we looked
    }
  }
  return pids
}

/** A /proc/<pid>/status field in KiB (VmRSS, VmHWM), 0 when the process is gone. */
function statusKiB(pid: number, field: string): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) : 0
  } catch {
    return 0
  }
}

const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN)
const round = (x: number) => Math.round(x * 10) / 10

interface TurnResult {
  readonly ttftMs: number
  readonly totalMs: number
  readonly completionTokens: number
  readonly cachedTokens: number
  readonly reply: string
}

/** One streamed turn; throws with the reason on any error (HTTP status, error event, no [DONE]). */
async function turn(base: string, sessionId: string, messages: { role: string; content: string }[], seed: number): Promise<TurnResult> {
  const started = performance.now()
  const response = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(process.env.HYMBA_KEY ? { authorization: `Bearer ${process.env.HYMBA_KEY}` } : {}) },
    body: JSON.stringify({ model: MODEL, messages, max_tokens: MAX_TOKENS, temperature: 0.7, seed, stream: true, stream_options: { include_usage: true }, session_id: sessionId }),
    signal: AbortSignal.timeout(Math.max(1000, Math.min(120_000, DEADLINE - Date.now()))),
  })
  if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${(await response.text()).slice(0, 200)}`)
  const reader = response.body!.getReader()
  const decoder = new TextDecoder()
  let pending = ''
  let ttftMs = NaN
  let reply = ''
  let usage: { completion_tokens: number; prompt_tokens_details: { cached_tokens: number } } | undefined
  let done = false
  for (;;) {
    const { value, done: end } = await reader.read()
    if (end) break
    pending += decoder.decode(value, { stream: true })
    let cut: number
    while ((cut = pending.indexOf('\n\n')) >= 0) {
      const data = pending.slice(0, cut).replace(/^data: /, '')
      pending = pending.slice(cut + 2)
      if (data === '[DONE]') {
        done = true
        continue
      }
      const chunk = JSON.parse(data)
      if (chunk.error) throw new Error(`error event: ${chunk.error.code}`)
      if (chunk.usage) usage = chunk.usage
      const content = chunk.choices?.[0]?.delta?.content
      if (content) {
        if (Number.isNaN(ttftMs)) ttftMs = performance.now() - started
        reply += content
      }
    }
  }
  if (!done || !usage) throw new Error('stream ended without usage and [DONE]')
  return { ttftMs: Number.isNaN(ttftMs) ? performance.now() - started : ttftMs, totalMs: performance.now() - started, completionTokens: usage.completion_tokens, cachedTokens: usage.prompt_tokens_details.cached_tokens, reply }
}

const QUESTIONS = ['What did the jury say about the city?', 'And the mayor?', 'Why did they vote?', 'What happened next?', 'Tell me more.']

async function session(base: string, index: number, results: TurnResult[], errors: string[]): Promise<void> {
  const messages: { role: string; content: string }[] = []
  for (let t = 0; t < TURNS; t++) {
    if (Date.now() > DEADLINE) return void errors.push(`session ${index} turn ${t}: deadline reached`)
    messages.push({ role: 'user', content: QUESTIONS[t % QUESTIONS.length]! })
    try {
      const result = await turn(base, `load-${index}`, messages, index * 100 + t)
      results.push(result)
      messages.push({ role: 'assistant', content: result.reply })
    } catch (err) {
      errors.push(`session ${index} turn ${t}: ${(err as Error).message}`)
      return
    }
  }
}

const WRANGLER = join(ROOT, 'node_modules/.bin/wrangler')
const OFFLINE = { ...process.env, WRANGLER_SEND_METRICS: 'false', WRANGLER_SEND_ERROR_REPORTS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_LOG: 'error' }
const work = mkdtempSync(join(tmpdir(), 'hymba-load-'))
execFileSync(WRANGLER, ['deploy', '--dry-run', '--outdir', join(work, 'dist')], { cwd: ROOT, env: OFFLINE, stdio: 'ignore' })
cpSync(join(ROOT, 'models', MODEL), join(work, 'models', MODEL), { recursive: true }) // the assets folder is watched too
// The project's config, pointed at the bundle (no re-bundling) and at the copy of the model.
const config = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8').replace(/^main = .*$/m, 'main = "dist/index.js"\nno_bundle = true\nrules = [{ type = "CompiledWasm", globs = ["**/*.wasm"] }, { type = "Text", globs = ["**/*.html"] }]')
writeFileSync(join(work, 'wrangler.toml'), config)
const port = await freePort()
const base = `http://127.0.0.1:${port}`
const child = spawn(WRANGLER, ['dev', '--ip', '127.0.0.1', '--port', String(port), '--persist-to', join(work, 'state'), '--log-level', 'error', '--show-interactive-dev-session=false'], {
  cwd: work,
  detached: true, // its own process group: workerd goes with it
  stdio: ['ignore', 'ignore', 'pipe'],
  env: OFFLINE,
})
let stderr = ''
child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-1_000_000)))
const killGroup = () => {
  try {
    process.kill(-child.pid!, 'SIGKILL')
  } catch {
    // already gone
  }
}
process.on('exit', killGroup)
process.on('SIGINT', () => process.exit(130))
process.on('SIGTERM', () => process.exit(143))

try {
  const startedAt = performance.now()
  for (;;) {
    if (performance.now() - startedAt > 60_000) throw new Error(`wrangler dev did not answer within 60 s:\n${stderr}`)
    const ok = await fetch(`${base}/healthz`).then((r) => r.ok, () => false)
    if (ok) break
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  const readyMs = performance.now() - startedAt
  const warm = performance.now()
  await turn(base, 'load-warmup', [{ role: 'user', content: 'Hello.' }], 1) // loads the model
  const modelLoadMs = performance.now() - warm

  const results: TurnResult[] = []
  const errors: string[] = []
  const driveStart = performance.now()
  await Promise.all(Array.from({ length: SESSIONS }, (_, i) => session(base, i, results, errors)))
  const driveMs = performance.now() - driveStart
  // wrangler dev runs two workerd processes (its proxy and the worker); the worker's is the larger.
  const peaks = workerdPids(child.pid!).map((pid) => statusKiB(pid, 'VmHWM') / 1024)

  const ttft = results.map((r) => r.ttftMs).sort((a, b) => a - b)
  const total = results.map((r) => r.totalMs).sort((a, b) => a - b)
  const tokens = results.reduce((sum, r) => sum + r.completionTokens, 0)
  const report = {
    generated: new Date().toISOString(),
    command: `npm run load -- --sessions ${SESSIONS} --turns ${TURNS} --max-tokens ${MAX_TOKENS}`,
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    config: { sessions: SESSIONS, turns: TURNS, maxTokens: MAX_TOKENS, stream: true, temperature: 0.7 },
    wranglerReadyMs: Math.round(readyMs),
    modelLoadMs: Math.round(modelLoadMs),
    turnsCompleted: results.length,
    turnsPlanned: SESSIONS * TURNS,
    errors: errors.length,
    errorSamples: errors.slice(0, 10),
    // The worker's own account of its failures (wrangler dev prints console.error to stderr).
    ...(errors.length ? { serverErrors: [...new Set(stderr.split('\n').filter((line) => /failed: (?!ApiError)/.test(line)))].slice(0, 10) } : {}),
    ttftMs: { p50: round(percentile(ttft, 50)), p99: round(percentile(ttft, 99)) },
    latencyMs: { p50: round(percentile(total, 50)), p99: round(percentile(total, 99)) },
    completionTokens: tokens,
    cachedPromptTokensMean: round(results.reduce((sum, r) => sum + r.cachedTokens, 0) / Math.max(1, results.length)),
    tokensPerSecond: round(tokens / (driveMs / 1000)),
    driveSeconds: round(driveMs / 1000),
    workerdPeakRssMiB: round(Math.max(...peaks)),
    workerdPeakRssMiBPerProcess: peaks.map(round),
  }
  mkdirSync(dirname(join(ROOT, values.out)), { recursive: true })
  writeFileSync(join(ROOT, values.out), JSON.stringify(report, null, 2) + '\n')
  console.log(JSON.stringify(report, null, 2))
  process.exitCode = errors.length === 0 ? 0 : 1
} finally {
  killGroup()
  await new Promise((resolve) => setTimeout(resolve, 500))
  rmSync(work, { recursive: true, force: true })
}
