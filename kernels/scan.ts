// Selective scan with fused z gating (spec §2.5, §3.4).
// Owns: selective_scan_f32.
// Must not import: anything but ./simd.
import { exp4, hsum, silu1 } from './simd'

/**
 * Δ = softplus20(dt + dtBias); s = exp(Δ·A)⊙s + (Δ·u)⊗B; y = (s·C + D⊙u) ⊙ SiLU(z).
 * u, dt, z, out [T, E]; state, A [E, N]; B, C [T, N]; dtBias, D [E]. Channels are the outer loop so
 * a channel's N states stay in L1 across all T steps.
 */
export function selective_scan_f32(
  out: usize, state: usize, u: usize, dt: usize, dtBias: usize, A: usize,
  B: usize, C: usize, D: usize, z: usize, T: i32, E: i32, N: i32,
): void {
  const nVec = N & ~3
  const nBytes = <usize>N << 2
  for (let e = 0; e < E; e++) {
    const se = state + <usize>e * nBytes
    const ae = A + <usize>e * nBytes
    const bias = load<f32>(dtBias + (<usize>e << 2))
    const d = load<f32>(D + (<usize>e << 2))
    for (let t = 0; t < T; t++) {
      const i = (<usize>t * <usize>E + <usize>e) << 2
      const raw = load<f32>(dt + i) + bias
      const delta: f32 = raw > 20 ? raw : Mathf.log1p(Mathf.exp(raw)) // spec §2.5: softplus, threshold 20
      const ut = load<f32>(u + i)
      const du = delta * ut
      const bt = B + <usize>t * nBytes
      const ct = C + <usize>t * nBytes
      const deltav = f32x4.splat(delta)
      const duv = f32x4.splat(du)
      let yv = f32x4.splat(0)
      let n = 0
      for (; n < nVec; n += 4) {
        const o = <usize>n << 2
        const s = f32x4.add(
          f32x4.mul(exp4(f32x4.mul(deltav, v128.load(ae + o))), v128.load(se + o)),
          f32x4.mul(duv, v128.load(bt + o)))
        v128.store(se + o, s)
        yv = f32x4.add(yv, f32x4.mul(s, v128.load(ct + o)))
      }
      let y = hsum(yv)
      for (; n < N; n++) {
        const o = <usize>n << 2
        const s = Mathf.exp(delta * load<f32>(ae + o)) * load<f32>(se + o) + du * load<f32>(bt + o)
        store<f32>(se + o, s)
        y += s * load<f32>(ct + o)
      }
      store<f32>(out + i, (y + d * ut) * silu1(load<f32>(z + i)))
    }
  }
}
