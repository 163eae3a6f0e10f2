// Browser bundles (issue 6): esbuild over src/ for the page-side code, with the WGSL kernels and the
// WASM-SIMD modules inlined through the virtual module 'hymba:embedded' (src/browser/embedded.d.ts).
//   tsx scripts/build-browser.ts          writes models/web/hymba-local.js (served by the worker at /web/)
//   tsx scripts/build-browser.ts --check  fails when that file is missing or older than its sources
// Tests import bundleBrowser() to build their own pages in memory. The output is generated: it is
// gitignored and starts with a "generated from … do not edit" banner.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { build, type Plugin } from 'esbuild'

const ROOT = join(import.meta.dirname, '..')
export const LOCAL_CHAT_ENTRY = join(ROOT, 'src/browser/local-chat.ts')
export const LOCAL_CHAT_OUT = join(ROOT, 'models/web/hymba-local.js')

function embedded(): Plugin {
  return {
    name: 'hymba-embedded',
    setup(b) {
      b.onResolve({ filter: /^hymba:embedded$/ }, () => ({ path: 'embedded', namespace: 'hymba' }))
      b.onLoad({ filter: /.*/, namespace: 'hymba' }, () => {
        const dir = join(ROOT, 'kernels/wgsl')
        const files = readdirSync(dir).filter((f) => f.endsWith('.wgsl')).sort()
        const wgsl = Object.fromEntries(files.map((f) => [f, readFileSync(join(dir, f), 'utf8')]))
        const bytes = (file: string) => `bytes(${JSON.stringify(readFileSync(join(ROOT, 'wasm', file)).toString('base64'))})`
        const contents = [
          'const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))',
          `export const wgsl = ${JSON.stringify(wgsl)}`,
          `export const wasmSimd = ${bytes('kernels-simd.wasm')}`,
          `export const wasmRelaxed = ${bytes('kernels-relaxed.wasm')}`,
        ].join('\n')
        return { contents, loader: 'js', watchFiles: [...files.map((f) => join(dir, f)), join(ROOT, 'wasm/kernels-simd.wasm'), join(ROOT, 'wasm/kernels-relaxed.wasm')] }
      })
    },
  }
}

/** One ESM bundle of `entry` for browsers; in memory unless `outfile` is given. */
export async function bundleBrowser(entry: string, options: { outfile?: string; minify?: boolean } = {}): Promise<string> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: options.minify ?? false,
    sourcemap: false,
    legalComments: 'none',
    banner: { js: `// generated from ${relative(ROOT, entry)} by \`npm run build:browser\` (scripts/build-browser.ts); do not edit` },
    plugins: [embedded()],
    write: options.outfile !== undefined,
    outfile: options.outfile,
    logLevel: 'warning',
  })
  return options.outfile ? readFileSync(options.outfile, 'utf8') : result.outputFiles![0].text
}

/** The newest modification time among the bundle's inputs (src/, kernels/wgsl/, wasm/). */
function newestSource(): number {
  let newest = 0
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else newest = Math.max(newest, statSync(path).mtimeMs)
    }
  }
  for (const dir of ['src', 'kernels/wgsl', 'wasm']) walk(join(ROOT, dir))
  return newest
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--check')) {
    let built = 0
    try {
      built = statSync(LOCAL_CHAT_OUT).mtimeMs
    } catch {
      console.error(`${relative(ROOT, LOCAL_CHAT_OUT)} is missing: run npm run build:browser`)
      process.exit(1)
    }
    if (built < newestSource()) {
      console.error(`${relative(ROOT, LOCAL_CHAT_OUT)} is older than its sources: run npm run build:browser`)
      process.exit(1)
    }
    console.log(`${relative(ROOT, LOCAL_CHAT_OUT)} is up to date`)
  } else {
    const text = await bundleBrowser(LOCAL_CHAT_ENTRY, { outfile: LOCAL_CHAT_OUT, minify: true })
    console.log(`wrote ${relative(ROOT, LOCAL_CHAT_OUT)} (${(text.length / 1024).toFixed(0)} KiB)`)
  }
}
