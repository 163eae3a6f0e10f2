// Activation quantisation for the integer matmuls: int8, symmetric, one f32 scale per 32 columns.
// Owns: quantize_rows_i8.
// Must not import: anything.
//
// The columns are laid out as in the prepared q8/q4 matrices (wasm/layout.ts): weight group g
// covers source columns [g·group, (g+1)·group) and occupies padded columns [g·gp, (g+1)·gp), gp =
// group rounded up to 32. Each run of 32 padded columns is one activation group: scale = max|x| /
// 127, q = round(x / scale) ∈ [−127, 127] (never −128, so |q| fits the relaxed dot's 7-bit operand),
// padding is 0. Per group we also keep Σq (the int4 kernels need dot(x, q − 8) = dot(x, q) − 8·Σx).

/**
 * Quantises x[T, cols] to xq[T, colsPadded] (i8), scales[T, colsPadded / 32] (f32) and
 * sums[T, colsPadded / 32] (i32). When x16 ≠ 0 it also writes x16[T, colsPadded] (i16) with each
 * 32-column run permuted to [0,2,…,14, 16,18,…,30, 1,3,…,15, 17,19,…,31]: the order in which the
 * plain-SIMD int4 kernel unpacks nibbles from 16-bit lanes (kernels/matmul_q4.ts), and the four
 * quarters pre-multiplied by 256, 16, 1 and 256 (|q| ≤ 127, so 256·q still fits i16): the kernel
 * then masks the nibbles in place instead of shifting each down, and every product carries 256.
 */
export function quantize_rows_i8(
  x: usize, T: i32, cols: i32, group: i32,
  xq: usize, scales: usize, sums: usize, x16: usize,
): void {
  const gp = (group + 31) & ~31
  const groups = cols / group
  const padded = groups * gp
  const runs = padded >> 5
  for (let t = 0; t < T; t++) {
    const xRow = x + <usize>t * <usize>cols * 4
    const qRow = xq + <usize>t * <usize>padded
    for (let run = 0; run < runs; run++) {
      const p0 = run << 5 // first padded column of this run
      const g = p0 / gp
      const within = p0 - g * gp
      const n = min(32, group - within) // real columns in this run
      const src = xRow + (<usize>(g * group + within) << 2)
      let maxAbs: f32 = 0
      for (let j = 0; j < n; j++) maxAbs = max(maxAbs, abs(load<f32>(src + (<usize>j << 2))))
      const inv: f32 = maxAbs > 0 ? <f32>127.0 / maxAbs : 0
      const q = qRow + <usize>p0
      let sum = 0
      for (let j = 0; j < 32; j++) {
        const v = j < n ? <i32>nearest(load<f32>(src + (<usize>j << 2)) * inv) : 0
        store<i8>(q + <usize>j, <i8>v)
        sum += v
      }
      const s = <usize>(t * runs + run) << 2
      store<f32>(scales + s, maxAbs / <f32>127.0)
      store<i32>(sums + s, sum)
      if (x16 != 0) {
        const o = x16 + ((<usize>t * <usize>padded + <usize>p0) << 1)
        for (let j = 0; j < 8; j++) {
          store<i16>(o + (<usize>j << 1), <i16>(<i32>load<i8>(q + <usize>(2 * j)) << 8))
          store<i16>(o + (<usize>(8 + j) << 1), <i16>(<i32>load<i8>(q + <usize>(16 + 2 * j)) << 4))
          store<i16>(o + (<usize>(16 + j) << 1), load<i8>(q + <usize>(2 * j + 1)))
          store<i16>(o + (<usize>(24 + j) << 1), <i16>(<i32>load<i8>(q + <usize>(17 + 2 * j)) << 8))
        }
      }
    }
  }
}
