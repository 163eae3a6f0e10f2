// Module types for non-TS imports that wrangler bundles (its default rules: *.html as Text, *.wasm as
// CompiledWasm: workerd refuses to compile wasm from bytes at run time).
declare module '*.html' {
  const text: string
  export default text
}

declare module '*.wasm' {
  const module: WebAssembly.Module
  export default module
}

// wasm/loader.ts's Node-only path names WebAssembly.compile, which workers-types omits (workerd refuses
// run-time compilation; the worker passes CompiledWasm modules instead and never reaches that path).
declare namespace WebAssembly {
  function compile(bytes: BufferSource): Promise<Module>
}
