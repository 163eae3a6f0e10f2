// Attention over a key/value set with per-key positions (GQA; spec §2.4, §3.2).
// Owns: attention_f32, attention_f32_relaxed (fused multiply-adds).
// Must not import: anything but ./simd.
import { exp4, hsum4f, madd, Plain, Relaxed } from './simd'

/** Keys per P·V block: the block's V rows are re-read from L1 by every head and column tile. */
const KEY_BLOCK: i32 = 16

/** Scalar a·b over n floats: the keys after the last block of 4. */
// @ts-ignore: decorator
@inline function dot(a: usize, b: usize, n: i32): f32 {
  let s: f32 = 0
  for (let i = 0; i < n; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2))
  return s
}

/**
 * [q·k0, q·k1, q·k2, q·k3] for the 4 key rows at k0 + j·kRow: two accumulators per key (even and
 * odd 4-wide chunks of the head dim: 8 FMA chains hide their latency; 14 live vectors), summed
 * across lanes by one transpose-add.
 */
// @ts-ignore: decorator
@inline function dot4<V>(q: usize, k0: usize, kRow: usize, hd: i32): v128 {
  const d1 = kRow
  const d2 = kRow << 1
  const d3 = d1 + d2
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0)
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0)
  let qp = q
  let kp = k0
  const qEnd8 = q + (<usize>(hd & ~7) << 2)
  for (; qp < qEnd8; qp += 32, kp += 32) {
    const qa = v128.load(qp)
    a0 = madd<V>(qa, v128.load(kp), a0)
    a1 = madd<V>(qa, v128.load(kp + d1), a1)
    a2 = madd<V>(qa, v128.load(kp + d2), a2)
    a3 = madd<V>(qa, v128.load(kp + d3), a3)
    const qb = v128.load(qp, 16)
    b0 = madd<V>(qb, v128.load(kp, 16), b0)
    b1 = madd<V>(qb, v128.load(kp + d1, 16), b1)
    b2 = madd<V>(qb, v128.load(kp + d2, 16), b2)
    b3 = madd<V>(qb, v128.load(kp + d3, 16), b3)
  }
  if (hd & 4) {
    const qa = v128.load(qp)
    a0 = madd<V>(qa, v128.load(kp), a0)
    a1 = madd<V>(qa, v128.load(kp + d1), a1)
    a2 = madd<V>(qa, v128.load(kp + d2), a2)
    a3 = madd<V>(qa, v128.load(kp + d3), a3)
  }
  const k1 = k0 + d1
  const k2 = k0 + d2
  const k3 = k0 + d3
  let i = hd & ~3
  let r = hsum4f(f32x4.add(a0, b0), f32x4.add(a1, b1), f32x4.add(a2, b2), f32x4.add(a3, b3))
  for (; i < hd; i++) {
    const o = <usize>i << 2
    let kv = f32x4.splat(load<f32>(k0 + o))
    kv = f32x4.replace_lane(kv, 1, load<f32>(k1 + o))
    kv = f32x4.replace_lane(kv, 2, load<f32>(k2 + o))
    kv = f32x4.replace_lane(kv, 3, load<f32>(k3 + o))
    r = f32x4.add(r, f32x4.mul(f32x4.splat(load<f32>(q + o)), kv))
  }
  return r
}

/** All-ones lanes for the keys (positions kp) visible to the query at qpos (the rule below). */
// @ts-ignore: decorator
@inline function visible4(kp: v128, qpos: v128, M: v128, span: v128): v128 {
  return v128.and(i32x4.le_s(kp, qpos), v128.or(i32x4.lt_s(kp, M), i32x4.le_s(i32x4.sub(qpos, kp), span)))
}

/**
 * Turns one head's scores (−∞ = masked) into softmax weights in place: p = e^(score − max) / Σp;
 * all zeros when no key is visible.
 */
// @ts-ignore: decorator
@inline function softmaxRow(row: usize, S: i32): void {
  const S4 = S & ~3
  let mv = f32x4.splat(-Infinity)
  let s = 0
  for (; s < S4; s += 4) mv = f32x4.pmax(mv, v128.load(row + (<usize>s << 2)))
  mv = f32x4.pmax(mv, i32x4.shuffle(mv, mv, 2, 3, 0, 1))
  let maxScore = f32x4.extract_lane(f32x4.pmax(mv, i32x4.shuffle(mv, mv, 1, 0, 3, 2)), 0)
  for (; s < S; s++) maxScore = max(maxScore, load<f32>(row + (<usize>s << 2)))
  if (maxScore == -Infinity) {
    memory.fill(row, 0, <usize>S << 2)
    return
  }
  // masked keys (−∞) get p = 0 through the lane mask (exp4 clamps instead of reaching 0)
  mv = f32x4.splat(maxScore)
  let totalV = f32x4.splat(0)
  for (s = 0; s < S4; s += 4) {
    const sp = row + (<usize>s << 2)
    const sv = v128.load(sp)
    const p = v128.and(exp4(f32x4.sub(sv, mv)), f32x4.ne(sv, f32x4.splat(-Infinity)))
    v128.store(sp, p)
    totalV = f32x4.add(totalV, p)
  }
  totalV = f32x4.add(totalV, i32x4.shuffle(totalV, totalV, 2, 3, 0, 1))
  let total = f32x4.extract_lane(f32x4.add(totalV, i32x4.shuffle(totalV, totalV, 1, 0, 3, 2)), 0)
  for (; s < S; s++) {
    const sp = row + (<usize>s << 2)
    const sv = load<f32>(sp)
    const p: f32 = sv == -Infinity ? 0 : Mathf.exp(sv - maxScore)
    store<f32>(sp, p)
    total += p
  }
  const inv: f32 = <f32>1.0 / total
  const invv = f32x4.splat(inv)
  for (s = 0; s < S4; s += 4) {
    const sp = row + (<usize>s << 2)
    v128.store(sp, f32x4.mul(v128.load(sp), invv))
  }
  for (; s < S; s++) store<f32>(row + (<usize>s << 2), load<f32>(row + (<usize>s << 2)) * inv)
}

/**
 * out[T, nh·vd] = softmax(q·kᵀ / sqrt(hd) over visible keys) · v, q [T, nh·hd], k [S, nkv·hd],
 * v [S, nkv·vd], keyPos i32[S]. Key s is visible to query t iff kpos ≤ qpos and (kpos < M or
 * qpos − kpos ≤ span) (span = i32 max for global layers). A query that sees no key gets zeros.
 * scores: f32[nh·S] scratch.
 *
 * The K and V rows are read in order, each once per query: a row holds every KV head, and reading one
 * head's slice at a time (a stride of nkv·hd floats) ran at a third of the speed (prefetch and TLB).
 * Scores for blocks of 4 keys, all heads (one visibility mask per block, fully masked blocks skipped;
 * keys need not be in position order, as in a rotated ring); a softmax per head that leaves
 * normalised weights; then P·V over blocks of KEY_BLOCK keys, whose rows stay in L1 while every head
 * takes them in 16-column register tiles (even and odd keys apart: 8 FMA chains) that accumulate
 * through out.
 */
// @ts-ignore: decorator
@inline function attention<V>(
  out: usize, q: usize, k: usize, v: usize, keyPos: usize,
  T: i32, S: i32, nh: i32, nkv: i32, hd: i32, vd: i32,
  qpos0: i32, M: i32, span: i32, scores: usize,
): void {
  const group = nh / nkv
  const scale = <f32>(1.0 / Math.sqrt(<f64>hd))
  const scalev = f32x4.splat(scale)
  const kRow = <usize>nkv * <usize>hd * 4
  const vRow = <usize>nkv * <usize>vd * 4
  const rowBytes = <usize>S << 2 // one head's scores
  const S4 = S & ~3
  const negInf = f32x4.splat(-Infinity)
  const Mv = i32x4.splat(M)
  const spanv = i32x4.splat(span)
  const v16 = vd & ~15
  for (let t = 0; t < T; t++) {
    const qpos = qpos0 + t
    const qposv = i32x4.splat(qpos)
    const qt = q + (<usize>(t * nh) * <usize>hd << 2)
    const ot = out + (<usize>(t * nh) * <usize>vd << 2)
    // scores[h, s] = q_h·k_s / sqrt(hd); −∞ for masked keys
    let s = 0
    for (; s < S4; s += 4) {
      const vis = visible4(v128.load(keyPos + (<usize>s << 2)), qposv, Mv, spanv)
      const sp = scores + (<usize>s << 2)
      if (!v128.any_true(vis)) {
        for (let h = 0; h < nh; h++) v128.store(sp + <usize>h * rowBytes, negInf)
        continue
      }
      const ks = k + <usize>s * kRow
      for (let h = 0; h < nh; h++) {
        const score = f32x4.mul(dot4<V>(qt + (<usize>(h * hd) << 2), ks + (<usize>((h / group) * hd) << 2), kRow, hd), scalev)
        v128.store(sp + <usize>h * rowBytes, v128.bitselect(score, negInf, vis))
      }
    }
    for (; s < S; s++) {
      const kpos = load<i32>(keyPos + (<usize>s << 2))
      const visible = kpos <= qpos && (kpos < M || qpos - kpos <= span)
      const ks = k + <usize>s * kRow
      for (let h = 0; h < nh; h++) {
        const score: f32 = visible ? dot(qt + (<usize>(h * hd) << 2), ks + (<usize>((h / group) * hd) << 2), hd) * scale : -Infinity
        store<f32>(scores + <usize>h * rowBytes + (<usize>s << 2), score)
      }
    }
    for (let h = 0; h < nh; h++) softmaxRow(scores + <usize>h * rowBytes, S)
    // out_h = Σ_s p[h, s]·v_s: the first vd − vd mod 16 columns in register tiles, the rest below
    if (v16 > 0) {
      for (let h = 0; h < nh; h++) memory.fill(ot + (<usize>(h * vd) << 2), 0, <usize>v16 << 2)
      for (let sb = 0; sb < S; sb += KEY_BLOCK) {
        const n = min(KEY_BLOCK, S - sb)
        const n4 = n & ~3
        const vb = v + <usize>sb * vRow
        for (let h = 0; h < nh; h++) {
          const pb = scores + <usize>h * rowBytes + (<usize>sb << 2)
          const oh = ot + (<usize>(h * vd) << 2)
          const vh = vb + (<usize>((h / group) * vd) << 2)
          for (let i = 0; i < v16; i += 16) {
            const op = oh + (<usize>i << 2)
            let o0 = v128.load(op), o1 = v128.load(op, 16), o2 = v128.load(op, 32), o3 = v128.load(op, 48)
            let e0 = f32x4.splat(0), e1 = f32x4.splat(0), e2 = f32x4.splat(0), e3 = f32x4.splat(0) // odd keys
            let vs = vh + (<usize>i << 2)
            let l = 0
            for (; l < n4; l += 4, vs += vRow << 2) {
              const pp = pb + (<usize>l << 2)
              if (!v128.any_true(v128.load(pp))) continue
              let pv = v128.load32_splat(pp)
              o0 = madd<V>(pv, v128.load(vs), o0)
              o1 = madd<V>(pv, v128.load(vs, 16), o1)
              o2 = madd<V>(pv, v128.load(vs, 32), o2)
              o3 = madd<V>(pv, v128.load(vs, 48), o3)
              const v1 = vs + vRow
              pv = v128.load32_splat(pp, 4)
              e0 = madd<V>(pv, v128.load(v1), e0)
              e1 = madd<V>(pv, v128.load(v1, 16), e1)
              e2 = madd<V>(pv, v128.load(v1, 32), e2)
              e3 = madd<V>(pv, v128.load(v1, 48), e3)
              const v2 = v1 + vRow
              pv = v128.load32_splat(pp, 8)
              o0 = madd<V>(pv, v128.load(v2), o0)
              o1 = madd<V>(pv, v128.load(v2, 16), o1)
              o2 = madd<V>(pv, v128.load(v2, 32), o2)
              o3 = madd<V>(pv, v128.load(v2, 48), o3)
              const v3 = v2 + vRow
              pv = v128.load32_splat(pp, 12)
              e0 = madd<V>(pv, v128.load(v3), e0)
              e1 = madd<V>(pv, v128.load(v3, 16), e1)
              e2 = madd<V>(pv, v128.load(v3, 32), e2)
              e3 = madd<V>(pv, v128.load(v3, 48), e3)
            }
            o0 = f32x4.add(o0, e0)
            o1 = f32x4.add(o1, e1)
            o2 = f32x4.add(o2, e2)
            o3 = f32x4.add(o3, e3)
            for (; l < n; l++, vs += vRow) {
              const pv = v128.load32_splat(pb + (<usize>l << 2))
              o0 = madd<V>(pv, v128.load(vs), o0)
              o1 = madd<V>(pv, v128.load(vs, 16), o1)
              o2 = madd<V>(pv, v128.load(vs, 32), o2)
              o3 = madd<V>(pv, v128.load(vs, 48), o3)
            }
            v128.store(op, o0)
            v128.store(op, o1, 16)
            v128.store(op, o2, 32)
            v128.store(op, o3, 48)
          }
        }
      }
    }
    for (let h = 0; h < nh; h++) {
      const ph = scores + <usize>h * rowBytes
      const vh = v + (<usize>((h / group) * vd) << 2)
      const oh = ot + (<usize>(h * vd) << 2)
      let i = v16
      for (; i + 4 <= vd; i += 4) {
        let o0 = f32x4.splat(0)
        let vs = vh + (<usize>i << 2)
        for (let s = 0; s < S; s++, vs += vRow) o0 = madd<V>(v128.load32_splat(ph + (<usize>s << 2)), v128.load(vs), o0)
        v128.store(oh + (<usize>i << 2), o0)
      }
      for (; i < vd; i++) {
        let o: f32 = 0
        let vs = vh + (<usize>i << 2)
        for (let s = 0; s < S; s++, vs += vRow) o += load<f32>(ph + (<usize>s << 2)) * load<f32>(vs)
        store<f32>(oh + (<usize>i << 2), o)
      }
    }
  }
}

export function attention_f32(
  out: usize, q: usize, k: usize, v: usize, keyPos: usize,
  T: i32, S: i32, nh: i32, nkv: i32, hd: i32, vd: i32,
  qpos0: i32, M: i32, span: i32, scores: usize,
): void {
  attention<Plain>(out, q, k, v, keyPos, T, S, nh, nkv, hd, vd, qpos0, M, span, scores)
}

/** attention_f32 with fused multiply-adds (relaxed module). */
export function attention_f32_relaxed(
  out: usize, q: usize, k: usize, v: usize, keyPos: usize,
  T: i32, S: i32, nh: i32, nkv: i32, hd: i32, vd: i32,
  qpos0: i32, M: i32, span: i32, scores: usize,
): void {
  attention<Relaxed>(out, q, k, v, keyPos, T, S, nh, nkv, hd, vd, qpos0, M, span, scores)
}
