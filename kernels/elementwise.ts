// Element-wise ops on f32 vectors: SiLU gating, ReLU², residual add, bias add, mean of two.
// Owns: silu_mul_f32, relu2_f32, add_into_f32, add_bias_f32, mean2_f32.
// Must not import: anything but ./simd.
// Each op reads element i before writing it, so the aliasing that backend.ts allows is safe.
import { silu1, silu4 } from './simd'

/** out[i] = SiLU(gate[i]) · up[i]. */
export function silu_mul_f32(out: usize, gate: usize, up: usize, n: i32): void {
  let i = 0
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2
    v128.store(out + o, f32x4.mul(silu4(v128.load(gate + o)), v128.load(up + o)))
  }
  for (; i < n; i++) {
    const o = <usize>i << 2
    store<f32>(out + o, silu1(load<f32>(gate + o)) * load<f32>(up + o))
  }
}

/** out[i] = max(x[i], 0)². */
export function relu2_f32(out: usize, x: usize, n: i32): void {
  let i = 0
  const zero = f32x4.splat(0)
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2
    const r = f32x4.max(v128.load(x + o), zero)
    v128.store(out + o, f32x4.mul(r, r))
  }
  for (; i < n; i++) {
    const o = <usize>i << 2
    const r = max(load<f32>(x + o), <f32>0)
    store<f32>(out + o, r * r)
  }
}

/** x[i] += y[i]. */
export function add_into_f32(x: usize, y: usize, n: i32): void {
  let i = 0
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2
    v128.store(x + o, f32x4.add(v128.load(x + o), v128.load(y + o)))
  }
  for (; i < n; i++) {
    const o = <usize>i << 2
    store<f32>(x + o, load<f32>(x + o) + load<f32>(y + o))
  }
}

/** x[t, j] += bias[j] for x [T, n]. */
export function add_bias_f32(x: usize, bias: usize, T: i32, n: i32): void {
  for (let t = 0; t < T; t++) add_into_f32(x + <usize>t * <usize>n * 4, bias, n)
}

/** out[i] = (a[i] + b[i]) / 2. */
export function mean2_f32(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0
  const half = f32x4.splat(0.5)
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2
    v128.store(out + o, f32x4.mul(f32x4.add(v128.load(a + o), v128.load(b + o)), half))
  }
  for (; i < n; i++) {
    const o = <usize>i << 2
    store<f32>(out + o, (load<f32>(a + o) + load<f32>(b + o)) * <f32>0.5)
  }
}
