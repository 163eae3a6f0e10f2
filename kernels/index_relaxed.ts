// Entry of the relaxed-SIMD module (wasm/kernels-relaxed.wasm): everything in ./index plus the
// integer matmuls on i32x4.relaxed_dot_i8x16_i7x16_add_s, and a probe the host runs before use.
// Owns: relaxed_dot_probe.
// Must not import: anything but the kernel files.
export * from './index'
export { matvec_q8_f32_relaxed, matmul_q8_f32_relaxed, sign_split_i8 } from './matmul_q8'
export { matvec_q4_f32_relaxed, matmul_q4_f32_relaxed, gather_rows_q4_relaxed } from './matmul_q4'
export { attention_f32_relaxed } from './attention'
export { selective_scan_f32_relaxed } from './scan'

/**
 * relaxed dot of the 16 bytes at a (i8) and b (7-bit) plus the i32x4 at c, written to out. The
 * host compares it with the exact result: Node 20's baseline compiler (Liftoff) returns twice the
 * dot and drops c (wasm-kernels-notes), so a wrong answer means "use the plain module".
 */
export function relaxed_dot_probe(out: usize, a: usize, b: usize, c: usize): void {
  v128.store(out, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(a), v128.load(b), v128.load(c)))
}
