// RMSNorm (spec §2.2): y = x · rsqrt(mean(x²) + eps) · weight, per row.
// Owns: rms_norm_f32.
// Must not import: anything but ./simd.
import { hsum } from './simd'

/** out[T, dim] from x[T, dim]; out may alias x (each row is read fully before it is written). */
export function rms_norm_f32(out: usize, x: usize, weight: usize, T: i32, dim: i32, eps: f32): void {
  const vec = dim & ~3
  for (let t = 0; t < T; t++) {
    const xr = x + <usize>t * <usize>dim * 4
    const or = out + <usize>t * <usize>dim * 4
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0)
    let i = 0
    for (; i + 8 <= vec; i += 8) {
      const v0 = v128.load(xr + (<usize>i << 2))
      const v1 = v128.load(xr + (<usize>i << 2), 16)
      a0 = f32x4.add(a0, f32x4.mul(v0, v0))
      a1 = f32x4.add(a1, f32x4.mul(v1, v1))
    }
    for (; i < vec; i += 4) {
      const v = v128.load(xr + (<usize>i << 2))
      a0 = f32x4.add(a0, f32x4.mul(v, v))
    }
    let sumSq = hsum(f32x4.add(a0, a1))
    for (; i < dim; i++) {
      const v = load<f32>(xr + (<usize>i << 2))
      sumSq += v * v
    }
    const inv = <f32>(1.0 / Math.sqrt(<f64>(sumSq / <f32>dim) + <f64>eps))
    const invv = f32x4.splat(inv)
    i = 0
    for (; i < vec; i += 4) {
      const o = <usize>i << 2
      v128.store(or + o, f32x4.mul(v128.load(weight + o), f32x4.mul(v128.load(xr + o), invv)))
    }
    for (; i < dim; i++) {
      const o = <usize>i << 2
      store<f32>(or + o, load<f32>(weight + o) * (load<f32>(xr + o) * inv))
    }
  }
}
