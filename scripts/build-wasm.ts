// Builds wasm/kernels-simd.wasm and wasm/kernels-relaxed.wasm from kernels/*.ts with AssemblyScript
// (npm only). `--check` rebuilds in memory and fails if the committed modules differ (for CI).
// Owns: the compiler flags of the kernel modules.
// Must not import: src/, wasm/loader.ts.
import { readFileSync, writeFileSync } from 'node:fs'
import asc from 'assemblyscript/asc'

// stub runtime: the kernels never allocate; the host owns the (imported, fixed-size) memory.
const COMMON = ['-O3', '--runtime', 'stub', '--importMemory', '--noAssert', '--use', 'abort=', '--enable', 'simd']
const TARGETS = [
  { entry: 'kernels/index.ts', out: 'wasm/kernels-simd.wasm', flags: COMMON },
  { entry: 'kernels/index_relaxed.ts', out: 'wasm/kernels-relaxed.wasm', flags: [...COMMON, '--enable', 'relaxed-simd'] },
]

const check = process.argv.includes('--check')
let stale = 0
for (const { entry, out, flags } of TARGETS) {
  let binary: Uint8Array | undefined
  const { error, stderr } = await asc.main([entry, '--outFile', out, ...flags], {
    writeFile(name: string, contents: string | Uint8Array) {
      if (name.endsWith('.wasm') && typeof contents !== 'string') binary = contents
    },
  })
  if (error || !binary) {
    console.error(stderr.toString())
    throw new Error(`asc failed for ${entry}: ${error?.message ?? 'no output'}`)
  }
  if (check) {
    const same = Buffer.compare(readFileSync(out), binary) === 0
    if (!same) stale++
    console.log(`${out}: ${same ? 'up to date' : 'DIFFERS from a fresh build'}`)
  } else {
    writeFileSync(out, binary)
    console.log(`${out}: ${binary.length} bytes from ${entry}`)
  }
}
if (stale) process.exit(1)
