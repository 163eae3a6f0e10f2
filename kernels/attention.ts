// Attention over a key/value set with per-key positions (GQA; spec §2.4, §3.2).
// Owns: attention_f32.
// Must not import: anything but ./simd.
import { exp4, hsum4f } from './simd'

/** Scalar a·b over n floats: the keys after the last block of 4. */
// @ts-ignore: decorator
@inline function dot(a: usize, b: usize, n: i32): f32 {
  let s: f32 = 0
  for (let i = 0; i < n; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2))
  return s
}

/**
 * [q·k0, q·k1, q·k2, q·k3] for the 4 key rows at k0 + j·kRow: one accumulator per key over 4-wide
 * chunks of the head dim (9 live vectors), summed across lanes by one transpose-add.
 */
// @ts-ignore: decorator
@inline function dot4(q: usize, k0: usize, kRow: usize, hd: i32): v128 {
  const k1 = k0 + kRow
  const k2 = k1 + kRow
  const k3 = k2 + kRow
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0)
  let i = 0
  for (; i + 4 <= hd; i += 4) {
    const o = <usize>i << 2
    const qv = v128.load(q + o)
    a0 = f32x4.add(a0, f32x4.mul(qv, v128.load(k0 + o)))
    a1 = f32x4.add(a1, f32x4.mul(qv, v128.load(k1 + o)))
    a2 = f32x4.add(a2, f32x4.mul(qv, v128.load(k2 + o)))
    a3 = f32x4.add(a3, f32x4.mul(qv, v128.load(k3 + o)))
  }
  let r = hsum4f(a0, a1, a2, a3)
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
 * scores: f32[(nh / nkv)·S] scratch.
 *
 * Per query and KV head, its group of nh / nkv query heads is done together, so each K and V row is
 * fetched from memory once and re-read from L1 by the other heads: scores for blocks of 4 keys (one
 * visibility mask per block, fully masked blocks skipped; keys need not be in position order, as in
 * a rotated ring), a softmax per head that leaves normalised weights, then P·V in register tiles of 32 (then 4) value columns, tile
 * by tile over the group's heads, taking the keys 4 weights at a time.
 */
export function attention_f32(
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
  for (let t = 0; t < T; t++) {
    const qpos = qpos0 + t
    const qposv = i32x4.splat(qpos)
    for (let g = 0; g < nkv; g++) {
      const qg = q + (<usize>(t * nh + g * group) * <usize>hd << 2) // the group's query rows
      const kg = k + (<usize>(g * hd) << 2)
      const vg = v + (<usize>(g * vd) << 2)
      const og = out + (<usize>(t * nh + g * group) * <usize>vd << 2)
      // scores[j, s] = q_j·k_s / sqrt(hd) for the group's heads j; −∞ for masked keys
      let s = 0
      for (; s < S4; s += 4) {
        const vis = visible4(v128.load(keyPos + (<usize>s << 2)), qposv, Mv, spanv)
        const sp = scores + (<usize>s << 2)
        if (!v128.any_true(vis)) {
          for (let j = 0; j < group; j++) v128.store(sp + <usize>j * rowBytes, negInf)
          continue
        }
        const ks = kg + <usize>s * kRow
        for (let j = 0; j < group; j++) {
          const score = f32x4.mul(dot4(qg + (<usize>(j * hd) << 2), ks, kRow, hd), scalev)
          v128.store(sp + <usize>j * rowBytes, v128.bitselect(score, negInf, vis))
        }
      }
      for (; s < S; s++) {
        const kpos = load<i32>(keyPos + (<usize>s << 2))
        const visible = kpos <= qpos && (kpos < M || qpos - kpos <= span)
        for (let j = 0; j < group; j++) {
          const score: f32 = visible ? dot(qg + (<usize>(j * hd) << 2), kg + <usize>s * kRow, hd) * scale : -Infinity
          store<f32>(scores + <usize>j * rowBytes + (<usize>s << 2), score)
        }
      }
      for (let j = 0; j < group; j++) softmaxRow(scores + <usize>j * rowBytes, S)
      // out_j = Σ_s p[j, s]·v_s
      let i = 0
      for (; i + 32 <= vd; i += 32) {
        for (let j = 0; j < group; j++) {
          const pj = scores + <usize>j * rowBytes
          let o0 = f32x4.splat(0), o1 = f32x4.splat(0), o2 = f32x4.splat(0), o3 = f32x4.splat(0)
          let o4 = f32x4.splat(0), o5 = f32x4.splat(0), o6 = f32x4.splat(0), o7 = f32x4.splat(0)
          let vs = vg + (<usize>i << 2)
          let s = 0
          for (; s < S4; s += 4, vs += vRow << 2) {
            const p4 = v128.load(pj + (<usize>s << 2))
            if (!v128.any_true(p4)) continue
            let vr = vs
            for (let l = 0; l < 4; l++, vr += vRow) {
              const pv = f32x4.splat(load<f32>(pj + (<usize>(s + l) << 2)))
              o0 = f32x4.add(o0, f32x4.mul(pv, v128.load(vr)))
              o1 = f32x4.add(o1, f32x4.mul(pv, v128.load(vr, 16)))
              o2 = f32x4.add(o2, f32x4.mul(pv, v128.load(vr, 32)))
              o3 = f32x4.add(o3, f32x4.mul(pv, v128.load(vr, 48)))
              o4 = f32x4.add(o4, f32x4.mul(pv, v128.load(vr, 64)))
              o5 = f32x4.add(o5, f32x4.mul(pv, v128.load(vr, 80)))
              o6 = f32x4.add(o6, f32x4.mul(pv, v128.load(vr, 96)))
              o7 = f32x4.add(o7, f32x4.mul(pv, v128.load(vr, 112)))
            }
          }
          for (; s < S; s++, vs += vRow) {
            const pv = f32x4.splat(load<f32>(pj + (<usize>s << 2)))
            o0 = f32x4.add(o0, f32x4.mul(pv, v128.load(vs)))
            o1 = f32x4.add(o1, f32x4.mul(pv, v128.load(vs, 16)))
            o2 = f32x4.add(o2, f32x4.mul(pv, v128.load(vs, 32)))
            o3 = f32x4.add(o3, f32x4.mul(pv, v128.load(vs, 48)))
            o4 = f32x4.add(o4, f32x4.mul(pv, v128.load(vs, 64)))
            o5 = f32x4.add(o5, f32x4.mul(pv, v128.load(vs, 80)))
            o6 = f32x4.add(o6, f32x4.mul(pv, v128.load(vs, 96)))
            o7 = f32x4.add(o7, f32x4.mul(pv, v128.load(vs, 112)))
          }
          const op = og + (<usize>(j * vd + i) << 2)
          v128.store(op, o0)
          v128.store(op, o1, 16)
          v128.store(op, o2, 32)
          v128.store(op, o3, 48)
          v128.store(op, o4, 64)
          v128.store(op, o5, 80)
          v128.store(op, o6, 96)
          v128.store(op, o7, 112)
        }
      }
      for (; i + 4 <= vd; i += 4) {
        for (let j = 0; j < group; j++) {
          const pj = scores + <usize>j * rowBytes
          let o0 = f32x4.splat(0)
          let vs = vg + (<usize>i << 2)
          for (let s = 0; s < S; s++, vs += vRow) o0 = f32x4.add(o0, f32x4.mul(f32x4.splat(load<f32>(pj + (<usize>s << 2))), v128.load(vs)))
          v128.store(og + (<usize>(j * vd + i) << 2), o0)
        }
      }
      for (; i < vd; i++) {
        for (let j = 0; j < group; j++) {
          const pj = scores + <usize>j * rowBytes
          let o: f32 = 0
          let vs = vg + (<usize>i << 2)
          for (let s = 0; s < S; s++, vs += vRow) o += load<f32>(pj + (<usize>s << 2)) * load<f32>(vs)
          store<f32>(og + (<usize>(j * vd + i) << 2), o)
        }
      }
    }
  }
}
