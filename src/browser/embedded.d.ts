// The virtual module that scripts/build-browser.ts provides to browser bundles: the WGSL kernels and the
// WASM-SIMD modules, inlined so a page needs no further requests for code.
declare module 'hymba:embedded' {
  /** kernels/wgsl/<file> by file name. */
  export const wgsl: Readonly<Record<string, string>>
  /** wasm/kernels-simd.wasm */
  export const wasmSimd: Uint8Array
  /** wasm/kernels-relaxed.wasm */
  export const wasmRelaxed: Uint8Array
}
