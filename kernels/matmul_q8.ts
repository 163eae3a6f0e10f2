// int8 matvec / matmul (weights int8 with f32 scales per group, activations int8 per 32 columns,
// i32 dot products), plain-SIMD and relaxed-SIMD variants; dequantising row gathers.
// Owns: matvec_q8_f32, matmul_q8_f32, matvec_q8_f32_relaxed, matmul_q8_f32_relaxed, gather_rows_q8.
// Must not import: anything but ./simd.
//
// Layout (wasm/layout.ts): rows in blocks of 4; columns padded per group to gp = ⌈group/32⌉·32.
// Block b holds padded/16 chunks of 64 bytes: chunk c is [row 4b+r][16 columns], r = 0..3.
// Scales: [rows/4 blocks][groups][4 rows] f32, so one v128 load gives a block's four scales.
// Activations come from quantize_rows_i8 (kernels/quantize.ts).
import { hsum4i, isRelaxed, Plain, Relaxed, storeLanes } from './simd'

/** i32 dot of 16 int8 weights with 16 int8 activations already widened to i16 (plain SIMD). */
// @ts-ignore: decorator
@inline function dot16(acc: v128, w: v128, xl: v128, xh: v128): v128 {
  return i32x4.add(acc, i32x4.add(
    i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w), xl),
    i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w), xh)))
}

/**
 * Relaxed SIMD: dot(w, x) = dot(w·sign(x), |x|); |x| ≤ 127 is the 7-bit operand
 * (wasm-kernels-notes). neg is the mask x < 0; (w ^ neg) − neg negates w where x < 0.
 */
// @ts-ignore: decorator
@inline function dot16r(acc: v128, w: v128, xa: v128, neg: v128): v128 {
  return i32x4.relaxed_dot_i8x16_i7x16_add_s(i8x16.sub(v128.xor(w, neg), neg), xa, acc)
}

/** Four rows · one token: returns the four outputs. V is Plain or Relaxed (simd.ts). */
// @ts-ignore: decorator
@inline function block<V>(wb: usize, sb: usize, xq: usize, xs: usize, groups: i32, runsPerGroup: i32): v128 {
  let acc = f32x4.splat(0)
  let wp = wb, xp = xq, sp = xs
  for (let g = 0; g < groups; g++) {
    let accG = f32x4.splat(0)
    for (let run = 0; run < runsPerGroup; run++) {
      let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0)
      for (let half = 0; half < 2; half++) {
        const xv = v128.load(xp)
        if (isRelaxed<V>()) {
          const neg = i8x16.lt_s(xv, i8x16.splat(0))
          const xa = i8x16.abs(xv)
          a0 = dot16r(a0, v128.load(wp), xa, neg)
          a1 = dot16r(a1, v128.load(wp, 16), xa, neg)
          a2 = dot16r(a2, v128.load(wp, 32), xa, neg)
          a3 = dot16r(a3, v128.load(wp, 48), xa, neg)
        } else {
          const xl = i16x8.extend_low_i8x16_s(xv)
          const xh = i16x8.extend_high_i8x16_s(xv)
          a0 = dot16(a0, v128.load(wp), xl, xh)
          a1 = dot16(a1, v128.load(wp, 16), xl, xh)
          a2 = dot16(a2, v128.load(wp, 32), xl, xh)
          a3 = dot16(a3, v128.load(wp, 48), xl, xh)
        }
        xp += 16
        wp += 64
      }
      const d = f32x4.convert_i32x4_s(hsum4i(a0, a1, a2, a3))
      accG = f32x4.add(accG, f32x4.mul(d, f32x4.splat(load<f32>(sp))))
      sp += 4
    }
    acc = f32x4.add(acc, f32x4.mul(accG, v128.load(sb + (<usize>g << 4))))
  }
  return acc
}

// @ts-ignore: decorator
@inline function matmul<V>(out: usize, w: usize, scales: usize, rows: i32, cols: i32, group: i32,
  xq: usize, xs: usize, T: i32): void {
  const gp = (group + 31) & ~31
  const groups = cols / group
  const padded = <usize>(groups * gp)
  const runs = <usize>(padded >> 5)
  const stride = padded << 2 // bytes per 4-row block
  const sStride = <usize>groups << 4
  // A token tile whose int8 activations stay in L2 while each weight block is swept over it.
  const tile = max(1, <i32>(<usize>262144 / padded))
  for (let t0 = 0; t0 < T; t0 += tile) {
    const t1 = min(T, t0 + tile)
    for (let r = 0; r < rows; r += 4) {
      const wb = w + <usize>(r >> 2) * stride
      const sb = scales + <usize>(r >> 2) * sStride
      for (let t = t0; t < t1; t++) {
        const v = block<V>(wb, sb, xq + <usize>t * padded, xs + <usize>t * runs * 4, groups, gp >> 5)
        storeLanes(out + ((<usize>t * <usize>rows + <usize>r) << 2), v, rows - r)
      }
    }
  }
}

/** out[rows] = W · x̂ for one token (x̂: the quantised activations). */
export function matvec_q8_f32(out: usize, w: usize, scales: usize, rows: i32, cols: i32, group: i32, xq: usize, xs: usize): void {
  matmul<Plain>(out, w, scales, rows, cols, group, xq, xs, 1)
}

/** out[T, rows] = x̂[T, cols] · Wᵀ, token-tiled. */
export function matmul_q8_f32(out: usize, w: usize, scales: usize, rows: i32, cols: i32, group: i32, xq: usize, xs: usize, T: i32): void {
  matmul<Plain>(out, w, scales, rows, cols, group, xq, xs, T)
}

export function matvec_q8_f32_relaxed(out: usize, w: usize, scales: usize, rows: i32, cols: i32, group: i32, xq: usize, xs: usize): void {
  matmul<Relaxed>(out, w, scales, rows, cols, group, xq, xs, 1)
}

export function matmul_q8_f32_relaxed(out: usize, w: usize, scales: usize, rows: i32, cols: i32, group: i32, xq: usize, xs: usize, T: i32): void {
  matmul<Relaxed>(out, w, scales, rows, cols, group, xq, xs, T)
}

/** out[i, :] = scale · q for row ids[i] (i32[n]). */
export function gather_rows_q8(out: usize, w: usize, scales: usize, cols: i32, group: i32, ids: usize, n: i32): void {
  const gp = (group + 31) & ~31
  const groups = cols / group
  const stride = <usize>(groups * gp) << 2
  for (let i = 0; i < n; i++) {
    const r = load<i32>(ids + (<usize>i << 2))
    const lane = <usize>(r & 3)
    const wb = w + <usize>(r >> 2) * stride + (lane << 4)
    const sb = scales + <usize>(r >> 2) * (<usize>groups << 4) + (lane << 2)
    const o = out + <usize>i * <usize>cols * 4
    for (let c = 0; c < cols; c++) {
      const g = c / group
      const p = g * gp + (c - g * group)
      const q = load<i8>(wb + (<usize>(p >> 4) << 6) + <usize>(p & 15))
      store<f32>(o + (<usize>c << 2), load<f32>(sb + (<usize>g << 4)) * <f32>q)
    }
  }
}
