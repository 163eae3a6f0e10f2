// onnxruntime-web's emscripten glue for workerd, where wasm is not compiled from bytes at run time:
// the plain (non-JSEP) glue, instantiated from the precompiled module that Miniflare imports
// (a CompiledWasm module rule in scripts/bench.ts) through emscripten's `instantiateWasm` hook. ORT
// loads this module by dynamic import (scripts/bench-worker.ts sets ort.env.wasm.wasmPaths.mjs to it);
// scripts/bench.ts bundles it as a second entry point beside the bench worker.
// Owns: the hand-over of the compiled ORT module. Must not import: Node built-ins, worker/.
// @ts-expect-error: the glue ships without types; its default export is the emscripten module factory
import ortWasmThreaded from 'onnxruntime-web/ort-wasm-simd-threaded.mjs'
// @ts-expect-error: a CompiledWasm module rule in Miniflare (scripts/bench.ts)
import ortWasm from './ort-wasm-simd-threaded.wasm'

type Done = (instance: WebAssembly.Instance, module: WebAssembly.Module) => void

/**
 * The factory ORT calls with its config (numThreads, locateFile, …): the same, with the module handed
 * over. The glue has no failure path for the hook, so a failed instantiation rejects beside it.
 */
export default function createOrtWasm(config: Record<string, unknown>): Promise<unknown> {
  const module = ortWasm as WebAssembly.Module
  let fail: (error: unknown) => void = () => {}
  const failed = new Promise<never>((_, reject) => (fail = reject))
  const created = ortWasmThreaded({
    ...config,
    instantiateWasm(imports: WebAssembly.Imports, done: Done) {
      WebAssembly.instantiate(module, imports).then((instance) => done(instance, module), fail)
      return {}
    },
  })
  return Promise.race([created, failed])
}
