// Selective scan with fused z gating (spec §2.5, §3.4).
// Owns: selective_scan_f32.
// Must not import: anything but ./simd.
import { exp4, hsum, silu1, silu4, softplus4 } from './simd'

/**
 * Δ = softplus20(dt + dtBias); s = exp(Δ·A)⊙s + (Δ·u)⊗B; y = (s·C + D⊙u) ⊙ SiLU(z).
 * u, dt, z, out [T, E]; state, A [E, N]; B, C [T, N]; dtBias, D [E]. The transcendental parts that
 * do not depend on the state (softplus, SiLU) run vectorised over channels in passes of their own.
 * out must not alias an input (backend.ts).
 */
export function selective_scan_f32(
  out: usize, state: usize, u: usize, dt: usize, dtBias: usize, A: usize,
  B: usize, C: usize, D: usize, z: usize, T: i32, E: i32, N: i32,
): void {
  const nVec = N & ~3
  const nBytes = <usize>N << 2
  const TE = T * E
  const eVec = E & ~3
  // pass 1, vectorised over channels: Δ = softplus20(dt + dtBias) into out (read back below)
  for (let t = 0; t < T; t++) {
    const row = <usize>t * <usize>E
    let e = 0
    for (; e < eVec; e += 4) {
      const i = (row + <usize>e) << 2
      v128.store(out + i, softplus4(f32x4.add(v128.load(dt + i), v128.load(dtBias + (<usize>e << 2)))))
    }
    for (; e < E; e++) {
      const i = (row + <usize>e) << 2
      const raw = load<f32>(dt + i) + load<f32>(dtBias + (<usize>e << 2))
      store<f32>(out + i, raw > 20 ? raw : Mathf.log1p(Mathf.exp(raw)))
    }
  }
  // pass 2, channel by channel so a channel's N states stay in L1 across all T steps: out = s·C + D⊙u
  for (let e = 0; e < E; e++) {
    const se = state + <usize>e * nBytes
    const ae = A + <usize>e * nBytes
    const d = load<f32>(D + (<usize>e << 2))
    for (let t = 0; t < T; t++) {
      const i = (<usize>t * <usize>E + <usize>e) << 2
      const delta = load<f32>(out + i)
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
      store<f32>(out + i, y + d * ut)
    }
  }
  // pass 3, vectorised: out ⊙= SiLU(z)
  let j = 0
  for (; j + 4 <= TE; j += 4) {
    const o = <usize>j << 2
    v128.store(out + o, f32x4.mul(v128.load(out + o), silu4(v128.load(z + o))))
  }
  for (; j < TE; j++) {
    const o = <usize>j << 2
    const zj = load<f32>(z + o)
    store<f32>(out + o, load<f32>(out + o) * silu1(zj))
  }
}
