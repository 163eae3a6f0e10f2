// Attention over a key/value set with per-key positions (GQA; spec §2.4, §3.2).
// Owns: attention_f32.
// Must not import: anything but ./simd.
import { exp4, hsum } from './simd'

// @ts-ignore: decorator
@inline function dot(a: usize, b: usize, n: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0)
  let i = 0
  for (; i + 8 <= n; i += 8) {
    const o = <usize>i << 2
    a0 = f32x4.add(a0, f32x4.mul(v128.load(a + o), v128.load(b + o)))
    a1 = f32x4.add(a1, f32x4.mul(v128.load(a + o, 16), v128.load(b + o, 16)))
  }
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2
    a0 = f32x4.add(a0, f32x4.mul(v128.load(a + o), v128.load(b + o)))
  }
  let s = hsum(f32x4.add(a0, a1))
  for (; i < n; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2))
  return s
}

/**
 * out[T, nh·vd] = softmax(q·kᵀ / sqrt(hd) over visible keys) · v, q [T, nh·hd], k [S, nkv·hd],
 * v [S, nkv·vd], keyPos i32[S]. Key s is visible to query t iff kpos ≤ qpos and (kpos < M or
 * qpos − kpos ≤ span) (span = i32 max for global layers). A query that sees no key gets zeros.
 * scores: f32[S] scratch.
 */
export function attention_f32(
  out: usize, q: usize, k: usize, v: usize, keyPos: usize,
  T: i32, S: i32, nh: i32, nkv: i32, hd: i32, vd: i32,
  qpos0: i32, M: i32, span: i32, scores: usize,
): void {
  const group = nh / nkv
  const scale = <f32>(1.0 / Math.sqrt(<f64>hd))
  const kRow = <usize>nkv * <usize>hd * 4
  const vRow = <usize>nkv * <usize>vd * 4
  for (let t = 0; t < T; t++) {
    const qpos = qpos0 + t
    for (let h = 0; h < nh; h++) {
      const kvh = h / group
      const qh = q + (<usize>(t * nh + h) * <usize>hd << 2)
      const kh = k + (<usize>(kvh * hd) << 2)
      const vh = v + (<usize>(kvh * vd) << 2)
      // scores of visible keys, −∞ for the others
      let maxScore = -Infinity
      for (let s = 0; s < S; s++) {
        const kpos = load<i32>(keyPos + (<usize>s << 2))
        let score: f32 = -Infinity
        if (kpos <= qpos && (kpos < M || qpos - kpos <= span)) {
          score = dot(qh, kh + <usize>s * kRow, hd) * scale
          if (score > maxScore) maxScore = <f32>score
        }
        store<f32>(scores + (<usize>s << 2), score)
      }
      const oh = out + (<usize>(t * nh + h) * <usize>vd << 2)
      if (maxScore == -Infinity) {
        memory.fill(oh, 0, <usize>vd << 2)
        continue
      }
      // p = e^(score − max), total = Σp; masked keys (−∞) get p = 0 through the lane mask
      const mv = f32x4.splat(<f32>maxScore)
      let totalV = f32x4.splat(0)
      let s = 0
      for (; s + 4 <= S; s += 4) {
        const sp = scores + (<usize>s << 2)
        const sv = v128.load(sp)
        const p = v128.and(exp4(f32x4.sub(sv, mv)), f32x4.ne(sv, f32x4.splat(-Infinity)))
        v128.store(sp, p)
        totalV = f32x4.add(totalV, p)
      }
      let total = hsum(totalV)
      for (; s < S; s++) {
        const sp = scores + (<usize>s << 2)
        const sv = load<f32>(sp)
        const p: f32 = sv == -Infinity ? 0 : Mathf.exp(sv - <f32>maxScore)
        store<f32>(sp, p)
        total += p
      }
      // out = Σ p·v / total, in register tiles of 32 (then 4) value columns: each key's weight is
      // splatted once per tile and the partial sums never round-trip through memory.
      const inv = f32x4.splat(<f32>1.0 / total)
      let i = 0
      for (; i + 32 <= vd; i += 32) {
        let o0 = f32x4.splat(0), o1 = f32x4.splat(0), o2 = f32x4.splat(0), o3 = f32x4.splat(0)
        let o4 = f32x4.splat(0), o5 = f32x4.splat(0), o6 = f32x4.splat(0), o7 = f32x4.splat(0)
        let vs = vh + (<usize>i << 2)
        for (let s = 0; s < S; s++, vs += vRow) {
          const p = load<f32>(scores + (<usize>s << 2))
          if (p == 0) continue
          const pv = f32x4.splat(p)
          o0 = f32x4.add(o0, f32x4.mul(pv, v128.load(vs)))
          o1 = f32x4.add(o1, f32x4.mul(pv, v128.load(vs, 16)))
          o2 = f32x4.add(o2, f32x4.mul(pv, v128.load(vs, 32)))
          o3 = f32x4.add(o3, f32x4.mul(pv, v128.load(vs, 48)))
          o4 = f32x4.add(o4, f32x4.mul(pv, v128.load(vs, 64)))
          o5 = f32x4.add(o5, f32x4.mul(pv, v128.load(vs, 80)))
          o6 = f32x4.add(o6, f32x4.mul(pv, v128.load(vs, 96)))
          o7 = f32x4.add(o7, f32x4.mul(pv, v128.load(vs, 112)))
        }
        const op = oh + (<usize>i << 2)
        v128.store(op, f32x4.mul(o0, inv))
        v128.store(op, f32x4.mul(o1, inv), 16)
        v128.store(op, f32x4.mul(o2, inv), 32)
        v128.store(op, f32x4.mul(o3, inv), 48)
        v128.store(op, f32x4.mul(o4, inv), 64)
        v128.store(op, f32x4.mul(o5, inv), 80)
        v128.store(op, f32x4.mul(o6, inv), 96)
        v128.store(op, f32x4.mul(o7, inv), 112)
      }
      for (; i + 4 <= vd; i += 4) {
        let o0 = f32x4.splat(0)
        let vs = vh + (<usize>i << 2)
        for (let s = 0; s < S; s++, vs += vRow) {
          const p = load<f32>(scores + (<usize>s << 2))
          if (p != 0) o0 = f32x4.add(o0, f32x4.mul(f32x4.splat(p), v128.load(vs)))
        }
        v128.store(oh + (<usize>i << 2), f32x4.mul(o0, inv))
      }
      for (; i < vd; i++) {
        let o: f32 = 0
        let vs = vh + (<usize>i << 2)
        for (let s = 0; s < S; s++, vs += vRow) o += load<f32>(scores + (<usize>s << 2)) * load<f32>(vs)
        store<f32>(oh + (<usize>i << 2), o / total)
      }
    }
  }
}
