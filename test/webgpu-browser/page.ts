// The page of the real-browser WebGPU tier (test/webgpu-browser.test.ts), bundled by
// scripts/build-browser.ts: every WGSL kernel against the reference kernels (kernel-checks.ts) and
// fixtures A/B through WebGpuModel (fixture-checks.ts) within 1e-3, on the browser's own WebGPU
// (Dawn + Tint); the f16 checks only where the adapter has `shader-f16`. Fixture files come from the test's static server under /reference/<name>/.
import { embeddedShaders } from '../../src/browser/embedded-shaders.ts'
import { fetchSource } from '../../src/browser/fetch-source.ts'
import { requestGpu, type Gpu } from '../../src/webgpu/gpu.ts'
import { KernelSet } from '../../src/webgpu/kernels.ts'
import { parseFixture } from '../support/fixture-format.ts'
import { fixtureChecks } from '../webgpu/fixture-checks.ts'
import { kernelChecks, runnable, type Check } from '../webgpu/kernel-checks.ts'

// The bound for the browser tier (Deno holds the same checks to 1e-4).
const LOGIT_TOL = 1e-3

const checks: Check[] = [
  ...kernelChecks,
  ...fixtureChecks({
    source: (name) => fetchSource(`/reference/${name}/`),
    fixture: async (name) => {
      const response = await fetch(`/reference/${name}/cases.safetensors`)
      if (!response.ok) throw new Error(`/reference/${name}/cases.safetensors: HTTP ${response.status}`)
      return parseFixture(`${name}/cases.safetensors`, new Uint8Array(await response.arrayBuffer()))
    },
    shaders: embeddedShaders,
    tol: LOGIT_TOL,
  }),
]

let setup: Promise<{ gpu: Gpu; kernels: KernelSet }> | undefined
const ready = () =>
  (setup ??= (async () => {
    const gpu = await requestGpu()
    return { gpu, kernels: await KernelSet.compile(gpu.device, embeddedShaders) }
  })())

export interface CheckResult {
  readonly ok: boolean
  readonly ms: number
  readonly message?: string
}

const api = {
  /** The checks this adapter can run (the f16 ones need `shader-f16`, which SwiftShader lacks). */
  async names(): Promise<string[]> {
    const { gpu } = await ready()
    return runnable(checks, gpu).map((c) => c.name)
  },
  /** Adapter and compilation of every kernel (Tint accepts each shader). */
  async adapter(): Promise<{ name: string; f16: boolean; features: string[] }> {
    const { gpu } = await ready()
    return { name: gpu.adapterName, f16: gpu.f16, features: [...gpu.device.features] }
  },
  async run(name: string): Promise<CheckResult> {
    const check = checks.find((c) => c.name === name)
    if (!check) return { ok: false, ms: 0, message: `no check named ${name}` }
    const start = performance.now()
    try {
      const { gpu, kernels } = await ready()
      await check.run(gpu, kernels)
      return { ok: true, ms: performance.now() - start }
    } catch (err) {
      return { ok: false, ms: performance.now() - start, message: (err as Error).message }
    }
  },
}

;(globalThis as { webgpuTier?: typeof api }).webgpuTier = api
