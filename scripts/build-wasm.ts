// Builds wasm/kernels-simd.wasm and wasm/kernels-relaxed.wasm from kernels/*.ts with AssemblyScript
// (npm only). `--check` rebuilds in memory and fails if the committed modules differ (for CI).
// Owns: which entry becomes which module.
// Must not import: src/, wasm/loader.ts.
import { readFileSync, writeFileSync } from 'node:fs'
import { compileKernels } from './asc.ts'

const TARGETS = [
  { entry: 'kernels/index.ts', out: 'wasm/kernels-simd.wasm', relaxed: false },
  { entry: 'kernels/index_relaxed.ts', out: 'wasm/kernels-relaxed.wasm', relaxed: true },
]

const check = process.argv.includes('--check')
let stale = 0
for (const { entry, out, relaxed } of TARGETS) {
  const binary = await compileKernels(entry, { relaxed })
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
