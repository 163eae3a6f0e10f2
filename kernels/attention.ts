// Attention over a key/value set with per-key positions (GQA; spec §2.4, §3.2).
// Owns: attention_f32, attention_f32_relaxed (fused multiply-adds).
// Must not import: anything but ./simd.
import { exp4, hsum4f, madd, Plain, Relaxed } from './simd'

/** Keys per P·V block: the block's V rows are re-read from L1 by every column tile. */
const KEY_BLOCK: i32 = 32

/** Scalar a·b over n floats: the keys after the last block of 4. */
// @ts-ignore: decorator
@inline function dot(a: usize, b: usize, n: i32): f32 {
  let s: f32 = 0
  for (let i = 0; i < n; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2))
  return s
}

/** [k0[o], k1[o], k2[o], k3[o]]: one column (byte offset o) of the 4 key rows at k0 + j·kRow, for the head-dim tail. */
// @ts-ignore: decorator
@inline function keyColumn4(k0: usize, kRow: usize, o: usize): v128 {
  let kv = f32x4.splat(load<f32>(k0 + o))
  kv = f32x4.replace_lane(kv, 1, load<f32>(k0 + kRow + o))
  kv = f32x4.replace_lane(kv, 2, load<f32>(k0 + (kRow << 1) + o))
  return f32x4.replace_lane(kv, 3, load<f32>(k0 + kRow * 3 + o))
}

/**
 * [q·k0, q·k1, q·k2, q·k3] for the 4 key rows at k0 + j·kRow: one accumulator per key, summed across
 * lanes by one transpose-add. Four accumulators, not eight: V8 keeps 4 accumulators, q and the 4 key
 * vectors in registers, where even/odd accumulators (14 live vectors) spilled two of them to the
 * stack every iteration (Node's --print-wasm-code).
 */
// @ts-ignore: decorator
@inline function dot4<V>(q: usize, k0: usize, kRow: usize, hd: i32): v128 {
  const d1 = kRow
  const d2 = kRow << 1
  const d3 = d1 + d2
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0)
  let qp = q
  let kp = k0
  const qEnd4 = q + (<usize>(hd & ~3) << 2)
  for (; qp < qEnd4; qp += 16, kp += 16) {
    const qa = v128.load(qp)
    a0 = madd<V>(qa, v128.load(kp), a0)
    a1 = madd<V>(qa, v128.load(kp + d1), a1)
    a2 = madd<V>(qa, v128.load(kp + d2), a2)
    a3 = madd<V>(qa, v128.load(kp + d3), a3)
  }
  let r = hsum4f(a0, a1, a2, a3)
  for (let i = hd & ~3; i < hd; i++) {
    const o = <usize>i << 2
    r = f32x4.add(r, f32x4.mul(f32x4.splat(load<f32>(q + o)), keyColumn4(k0, kRow, o)))
  }
  return r
}

/**
 * Scores of two query heads (q at qa, qb) that share a KV head, for the 4 key rows at k0 + j·kRow:
 * each key vector is loaded once for both heads, and the 8 accumulators are 8 independent
 * multiply-add chains (4 for one head were bound by the FMA latency). Stores scale·q·k, or −∞ where
 * vis is off, at spA and spB.
 */
// @ts-ignore: decorator
@inline function scorePair<V>(qa: usize, qb: usize, k0: usize, kRow: usize, hd: i32, spA: usize, spB: usize, scalev: v128, vis: v128): void {
  const d1 = kRow
  const d2 = kRow << 1
  const d3 = d1 + d2
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0)
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0)
  const end = <usize>(hd & ~3) << 2
  for (let o: usize = 0; o < end; o += 16) {
    const x = v128.load(qa + o)
    const y = v128.load(qb + o)
    const kp = k0 + o
    let kv = v128.load(kp)
    a0 = madd<V>(x, kv, a0)
    b0 = madd<V>(y, kv, b0)
    kv = v128.load(kp + d1)
    a1 = madd<V>(x, kv, a1)
    b1 = madd<V>(y, kv, b1)
    kv = v128.load(kp + d2)
    a2 = madd<V>(x, kv, a2)
    b2 = madd<V>(y, kv, b2)
    kv = v128.load(kp + d3)
    a3 = madd<V>(x, kv, a3)
    b3 = madd<V>(y, kv, b3)
  }
  let ra = hsum4f(a0, a1, a2, a3)
  let rb = hsum4f(b0, b1, b2, b3)
  for (let i = hd & ~3; i < hd; i++) {
    const o = <usize>i << 2
    const kv = keyColumn4(k0, kRow, o)
    ra = f32x4.add(ra, f32x4.mul(f32x4.splat(load<f32>(qa + o)), kv))
    rb = f32x4.add(rb, f32x4.mul(f32x4.splat(load<f32>(qb + o)), kv))
  }
  const negInf = f32x4.splat(-Infinity)
  v128.store(spA, v128.bitselect(f32x4.mul(ra, scalev), negInf, vis))
  v128.store(spB, v128.bitselect(f32x4.mul(rb, scalev), negInf, vis))
}

/**
 * out[h, c..c+W) += Σ_l p[h, l]·v[l, c..c+W) over n keys, for the H heads h0..h0+H−1 of one KV head:
 * each V vector is loaded once for all H heads (GQA). H and W are literals (H·W/4 ≤ 6 accumulators,
 * W ≤ 8 when H > 1), so the unused accumulators fold away. o: out of head h0 at column c (heads
 * hStride bytes apart); p: head h0's weights of the first key (heads rowBytes apart); vs: its V
 * row at column c (keys vRow bytes apart). One key per iteration: V8 schedules an unrolled body's
 * loads ahead and spills accumulators to the stack.
 */
// @ts-ignore: decorator
@inline function pvTile<V>(o: usize, hStride: usize, p: usize, rowBytes: usize, vs: usize, vRow: usize, n: i32, H: i32, W: i32): void {
  const o1 = o + hStride
  const o2 = o1 + hStride
  let a0 = v128.load(o), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0)
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), c0 = f32x4.splat(0), c1 = f32x4.splat(0)
  if (W > 4) a1 = v128.load(o, 16)
  if (W > 8) {
    a2 = v128.load(o, 32)
    a3 = v128.load(o, 48)
  }
  if (H > 1) {
    b0 = v128.load(o1)
    if (W > 4) b1 = v128.load(o1, 16)
  }
  if (H > 2) {
    c0 = v128.load(o2)
    if (W > 4) c1 = v128.load(o2, 16)
  }
  let pp = p
  const pEnd = p + (<usize>n << 2)
  for (; pp < pEnd; pp += 4, vs += vRow) {
    const pa = v128.load32_splat(pp)
    const pb = H > 1 ? v128.load32_splat(pp + rowBytes) : pa
    const pc = H > 2 ? v128.load32_splat(pp + (rowBytes << 1)) : pa
    const v0 = v128.load(vs)
    a0 = madd<V>(pa, v0, a0)
    if (H > 1) b0 = madd<V>(pb, v0, b0)
    if (H > 2) c0 = madd<V>(pc, v0, c0)
    if (W > 4) {
      const v1 = v128.load(vs, 16)
      a1 = madd<V>(pa, v1, a1)
      if (H > 1) b1 = madd<V>(pb, v1, b1)
      if (H > 2) c1 = madd<V>(pc, v1, c1)
    }
    if (W > 8) {
      a2 = madd<V>(pa, v128.load(vs, 32), a2)
      a3 = madd<V>(pa, v128.load(vs, 48), a3)
    }
  }
  v128.store(o, a0)
  if (W > 4) v128.store(o, a1, 16)
  if (W > 8) {
    v128.store(o, a2, 32)
    v128.store(o, a3, 48)
  }
  if (H > 1) {
    v128.store(o1, b0)
    if (W > 4) v128.store(o1, b1, 16)
  }
  if (H > 2) {
    v128.store(o2, c0)
    if (W > 4) v128.store(o2, c1, 16)
  }
}

/**
 * pvTile over all columns of the H heads from h0 (one KV head's, V rows at vh): tiles of 16 columns
 * for one head or 8 for two and three, then 4, then a scalar tail.
 */
// @ts-ignore: decorator
@inline function pvHeads<V>(oh: usize, hStride: usize, ph: usize, rowBytes: usize, vh: usize, vRow: usize, n: i32, vd: i32, H: i32): void {
  let c = 0
  if (H == 1) {
    for (; c + 16 <= vd; c += 16) pvTile<V>(oh + (<usize>c << 2), hStride, ph, rowBytes, vh + (<usize>c << 2), vRow, n, 1, 16)
  }
  for (; c + 8 <= vd; c += 8) pvTile<V>(oh + (<usize>c << 2), hStride, ph, rowBytes, vh + (<usize>c << 2), vRow, n, H, 8)
  for (; c + 4 <= vd; c += 4) pvTile<V>(oh + (<usize>c << 2), hStride, ph, rowBytes, vh + (<usize>c << 2), vRow, n, H, 4)
  for (; c < vd; c++) {
    for (let j = 0; j < H; j++) {
      const op = oh + <usize>j * hStride + (<usize>c << 2)
      const pj = ph + <usize>j * rowBytes
      let acc = load<f32>(op)
      let vs = vh + (<usize>c << 2)
      for (let l = 0; l < n; l++, vs += vRow) acc += load<f32>(pj + (<usize>l << 2)) * load<f32>(vs)
      store<f32>(op, acc)
    }
  }
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
@inline function softmaxRow<V>(row: usize, S: i32): void {
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
    const p = v128.and(exp4<V>(f32x4.sub(sv, mv)), f32x4.ne(sv, f32x4.splat(-Infinity)))
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
 * keys need not be in position order, as in a rotated ring), the query heads of a KV head two at a
 * time (scorePair), an odd one alone (dot4); a softmax per head that leaves
 * normalised weights; then P·V over blocks of KEY_BLOCK keys, whose rows stay in L1 while the query
 * heads of each KV head take them three at a time in 8-column register tiles (6 FMA chains; one V
 * load serves three heads) that accumulate through out.
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
      for (let g = 0; g < nkv; g++) {
        const kg = ks + (<usize>(g * hd) << 2)
        let h = g * group
        const hEnd = h + group
        for (; h + 2 <= hEnd; h += 2) {
          const qa = qt + (<usize>(h * hd) << 2)
          scorePair<V>(qa, qa + (<usize>hd << 2), kg, kRow, hd, sp + <usize>h * rowBytes, sp + <usize>(h + 1) * rowBytes, scalev, vis)
        }
        if (h < hEnd) {
          const score = f32x4.mul(dot4<V>(qt + (<usize>(h * hd) << 2), kg, kRow, hd), scalev)
          v128.store(sp + <usize>h * rowBytes, v128.bitselect(score, negInf, vis))
        }
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
    for (let h = 0; h < nh; h++) softmaxRow<V>(scores + <usize>h * rowBytes, S)
    // out_h = Σ_s p[h, s]·v_s over blocks of KEY_BLOCK keys (whose V rows stay in L1 across the
    // column tiles), each KV head's query heads three at a time
    for (let h = 0; h < nh; h++) memory.fill(ot + (<usize>(h * vd) << 2), 0, <usize>vd << 2)
    const hStride = <usize>vd << 2
    for (let sb = 0; sb < S; sb += KEY_BLOCK) {
      const n = min(KEY_BLOCK, S - sb)
      const vb = v + <usize>sb * vRow
      for (let g = 0; g < nkv; g++) {
        const vh = vb + (<usize>(g * vd) << 2)
        let h = g * group
        const hEnd = h + group
        for (; h + 3 <= hEnd; h += 3) pvHeads<V>(ot + <usize>h * hStride, hStride, scores + <usize>h * rowBytes + (<usize>sb << 2), rowBytes, vh, vRow, n, vd, 3)
        if (hEnd - h == 2) pvHeads<V>(ot + <usize>h * hStride, hStride, scores + <usize>h * rowBytes + (<usize>sb << 2), rowBytes, vh, vRow, n, vd, 2)
        else if (hEnd - h == 1) pvHeads<V>(ot + <usize>h * hStride, hStride, scores + <usize>h * rowBytes + (<usize>sb << 2), rowBytes, vh, vRow, n, vd, 1)
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
