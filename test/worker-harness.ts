// Test harness for the worker tests (test/worker*.test.ts): runs the bundle that `npm run build:worker`
// writes to dist/ in Miniflare (workerd, the Workers runtime), configured from wrangler.toml, on a
// loopback port. Not a test file itself.
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Miniflare, type WorkerOptions } from 'miniflare'
import { unstable_getMiniflareWorkerOptions } from 'wrangler'

const ROOT = new URL('..', import.meta.url).pathname
const BUNDLE = join(ROOT, 'dist/index.js')

export interface RunningWorker {
  readonly mf: Miniflare
  /** Base URL, ending in '/'. */
  readonly url: URL
  /** Where Durable Object storage lives; pass it to a new worker to simulate a restart. */
  readonly persistDir: string
  /** Stop workerd (storage in persistDir stays). */
  stop(): Promise<void>
}

/**
 * Start the bundled worker. `vars` override wrangler.toml [vars] (and set secrets such as API_KEYS, or
 * the test-only TEST_FAULTS); `assetsDir` replaces the static assets folder (models/).
 */
export async function startWorker(options: { persistDir?: string; vars?: Record<string, string>; assetsDir?: string } = {}): Promise<RunningWorker> {
  try {
    statSync(BUNDLE)
  } catch {
    throw new Error(`${BUNDLE} is missing: run \`npm run build:worker\` first (npm test does it in pretest)`)
  }
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(ROOT, 'wrangler.toml'))
  const persistDir = options.persistDir ?? mkdtempSync(join(tmpdir(), 'hymba-worker-'))
  const mf = new Miniflare({
    ...(workerOptions as WorkerOptions),
    bindings: { ...(workerOptions.bindings ?? {}), ...(options.vars ?? {}) },
    ...(options.assetsDir ? { assets: { ...workerOptions.assets!, directory: options.assetsDir } } : {}),
    modules: true,
    scriptPath: BUNDLE,
    modulesRoot: join(ROOT, 'dist'),
    modulesRules: [
      { type: 'Text', include: ['**/*.html'] },
      { type: 'CompiledWasm', include: ['**/*.wasm'] },
    ],
    durableObjectsPersist: persistDir,
    host: '127.0.0.1',
    port: 0,
    cf: false, // no lookup of workers.cloudflare.com (offline)
  } as WorkerOptions & { host: string; port: number; durableObjectsPersist: string; cf: boolean })
  const url = await mf.ready
  return { mf, url, persistDir, stop: () => mf.dispose() }
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}
