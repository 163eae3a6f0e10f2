// Entry of the plain-SIMD module (wasm/kernels-simd.wasm): every kernel without relaxed SIMD.
// Owns: the export list and heap_base (where the host's allocator may start).
// Must not import: kernels that use relaxed SIMD by name (they would not compile without it).
export { matvec_f32, matmul_f32, gather_rows_f32 } from './matmul_f32'
export { quantize_rows_i8 } from './quantize'
export { matvec_q8_f32, matmul_q8_f32, gather_rows_q8 } from './matmul_q8'
export { matvec_q4_f32, matmul_q4_f32, gather_rows_q4 } from './matmul_q4'
export { rms_norm_f32 } from './rmsnorm'
export { rope_f32 } from './rope'
export { attention_f32 } from './attention'
export { causal_conv_silu_f32 } from './conv'
export { selective_scan_f32 } from './scan'
export { silu_mul_f32, relu2_f32, add_into_f32, add_bias_f32, mean2_f32 } from './elementwise'
export { argmax_f32 } from './argmax'

/** First byte after the module's static data. */
export function heap_base(): usize {
  return __heap_base
}
