// RoPE, rotate_half convention (pairs j, j + d/2), in place (spec §2.4).
// Owns: rope_f32.
// Must not import: anything.

/** x[T, heads·headDim]; row t has position pos0 + t; angle = fround(pos · invFreq[j]). */
export function rope_f32(x: usize, T: i32, heads: i32, headDim: i32, pos0: i32, invFreq: usize): void {
  const half = headDim >> 1
  const rowBytes = <usize>heads * <usize>headDim * 4
  const headBytes = <usize>headDim * 4
  const halfBytes = <usize>half * 4
  for (let t = 0; t < T; t++) {
    const pos = <f32>(pos0 + t)
    const row = x + <usize>t * rowBytes
    for (let j = 0; j < half; j++) {
      const angle = pos * load<f32>(invFreq + (<usize>j << 2)) // f32 product = fround(pos · invFreq)
      const c = <f32>Math.cos(<f64>angle)
      const s = <f32>Math.sin(<f64>angle)
      let p = row + (<usize>j << 2)
      for (let h = 0; h < heads; h++) {
        const a = load<f32>(p)
        const b = load<f32>(p + halfBytes)
        store<f32>(p, a * c - b * s)
        store<f32>(p + halfBytes, b * c + a * s)
        p += headBytes
      }
    }
  }
}
