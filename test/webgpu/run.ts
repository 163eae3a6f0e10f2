// Entry of the WebGPU test tier (Deno: `deno run -A test/webgpu/run.ts`): every WGSL kernel against
// the reference kernels, then fixtures A/B through WebGpuModel (the f16 checks only where the
// adapter has `shader-f16`; lavapipe has it). Prints one line per check (a failure's
// message after a tab) and a closing "N passed, N failed"; exits 3 with a NO_ADAPTER line when this host has no WebGPU adapter.
import { NoWebGpu, requestGpu, type Gpu } from '../../src/webgpu/gpu.ts'
import { KernelSet } from '../../src/webgpu/kernels.ts'
import { wgslFiles } from '../../src/node/wgsl-source.ts'
import { kernelChecks, runnable } from './kernel-checks.ts'
import { modelChecks } from './model-checks.ts'

let gpu: Gpu
try {
  gpu = await requestGpu()
} catch (err) {
  if (!(err instanceof NoWebGpu)) throw err
  console.log(`NO_ADAPTER ${err.message}`)
  process.exit(3)
}
console.log(`adapter: ${gpu.adapterName}; shader-f16: ${gpu.f16}`)
const filter = process.argv[2] ?? ''
const kernels = await KernelSet.compile(gpu.device, wgslFiles)
let passed = 0
let failed = 0
for (const c of runnable([...kernelChecks, ...modelChecks], gpu)) {
  if (!c.name.includes(filter)) continue
  const start = performance.now()
  try {
    await c.run(gpu, kernels)
    passed++
    console.log(`ok ${c.name} (${(performance.now() - start).toFixed(0)} ms)`)
  } catch (err) {
    failed++
    console.log(`not ok ${c.name}\t${(err as Error).message.replaceAll('\n', ' | ')}`)
  }
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
