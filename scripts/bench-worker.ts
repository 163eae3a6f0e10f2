// The end-to-end benchmark inside workerd (issue 3: "the end-to-end numbers inside workerd too"):
// a tiny Worker that scripts/bench.ts bundles and runs in Miniflare. It loads a model folder (HF
// checkpoint or bundle) through the FILES service binding (served by the Node host), builds the
// kernels from the imported, precompiled .wasm modules (relaxed SIMD when workerd has it, which it
// does by default), and answers GET /run?dir=…&memory=…&prompt=…&decode=…&reps=… with JSON.
// Owns: the bench worker. Must not import: worker/, Node built-ins.
import type { CheckpointSource } from '../src/checkpoint.ts'
import { loadModel } from '../src/load.ts'
import { createWasmKernelsFromModules } from '../wasm/loader.ts'
// @ts-expect-error: a CompiledWasm module rule in Miniflare (scripts/bench.ts)
import simd from './kernels-simd.wasm'
// @ts-expect-error: as above
import relaxed from './kernels-relaxed.wasm'
import { measureModel } from './bench-e2e.ts'

interface Env {
  FILES: { fetch(input: string, init?: RequestInit): Promise<Response> }
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url)
    const q = (name: string, fallback: number) => Number(url.searchParams.get(name) ?? fallback)
    const dir = url.searchParams.get('dir') ?? ''
    const source: CheckpointSource = {
      name: dir,
      async read(file) {
        const r = await env.FILES.fetch(`http://files${dir}/${file}`)
        if (!r.ok) throw new Error(`${dir}/${file}: ${r.status}`)
        return new Uint8Array(await r.arrayBuffer())
      },
      async exists(file) {
        return (await env.FILES.fetch(`http://files${dir}/${file}`, { method: 'HEAD' })).ok
      },
    }
    try {
      const memoryBytes = q('memory', 256 << 20)
      const kernels = await createWasmKernelsFromModules({ simd: simd as WebAssembly.Module, relaxed: relaxed as WebAssembly.Module }, { memoryBytes })
      const t0 = performance.now()
      const model = await loadModel(source, { kernels })
      const loadMs = performance.now() - t0
      const result = measureModel(model, { promptTokens: q('prompt', 128), decodeTokens: q('decode', 32), repetitions: q('reps', 3) })
      const allocator = (kernels as unknown as { allocator: { peakBytes: number } }).allocator
      return Response.json({ backend: kernels.name, loadMs, memoryBytes, wasmPeakBytes: allocator.peakBytes, ...result })
    } catch (e) {
      return Response.json({ error: String((e as Error).stack ?? e) }, { status: 500 })
    }
  },
}
