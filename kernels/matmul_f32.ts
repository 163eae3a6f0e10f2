// f32 matvec / matmul on the 4-row interleaved layout, and row gathers from it.
// Owns: matvec_f32, matmul_f32, gather_rows_f32.
// Must not import: anything but ./simd.
//
// Layout (prepared on the host by wasm/layout.ts): rows in blocks of 4 (zero rows pad the last
// block), columns padded to a multiple of 4. Block b holds colsPadded / 4 chunks of 16 floats; chunk
// c is [row 4b+r][cols 4c..4c+3] for r = 0..3, so one 64-byte line feeds four rows (wasm-kernels-notes:
// 1.3–1.5× over row-major); the matvec reads four blocks a quarter of the matrix apart as four streams.
import { hsum4f, loadTail, storeBlocks4, storeLanes } from './simd'

/** Floats per 4-row block. */
// @ts-ignore: decorator
@inline function blockFloats(cols: i32): i32 {
  return ((cols + 3) & ~3) << 2
}

/** Four rows · one token; two chunks per step (8 accumulators: V8 keeps ≤ 16 v128 in registers). */
// @ts-ignore: decorator
@inline function block4x1(wb: usize, x: usize, cols: i32): v128 {
  const full = cols >> 2
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0)
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0)
  let c = 0
  for (; c + 1 < full; c += 2) {
    const p = wb + (<usize>c << 6)
    const xp = x + (<usize>c << 4)
    const x0 = v128.load(xp)
    const x1 = v128.load(xp, 16)
    a0 = f32x4.add(a0, f32x4.mul(v128.load(p), x0))
    a1 = f32x4.add(a1, f32x4.mul(v128.load(p, 16), x0))
    a2 = f32x4.add(a2, f32x4.mul(v128.load(p, 32), x0))
    a3 = f32x4.add(a3, f32x4.mul(v128.load(p, 48), x0))
    b0 = f32x4.add(b0, f32x4.mul(v128.load(p, 64), x1))
    b1 = f32x4.add(b1, f32x4.mul(v128.load(p, 80), x1))
    b2 = f32x4.add(b2, f32x4.mul(v128.load(p, 96), x1))
    b3 = f32x4.add(b3, f32x4.mul(v128.load(p, 112), x1))
  }
  for (; c <= full; c++) {
    const rest = cols - (c << 2)
    if (rest <= 0) break
    const p = wb + (<usize>c << 6)
    const x0 = rest >= 4 ? v128.load(x + (<usize>c << 4)) : loadTail(x + (<usize>c << 4), rest)
    a0 = f32x4.add(a0, f32x4.mul(v128.load(p), x0))
    a1 = f32x4.add(a1, f32x4.mul(v128.load(p, 16), x0))
    a2 = f32x4.add(a2, f32x4.mul(v128.load(p, 32), x0))
    a3 = f32x4.add(a3, f32x4.mul(v128.load(p, 48), x0))
  }
  return hsum4f(f32x4.add(a0, b0), f32x4.add(a1, b1), f32x4.add(a2, b2), f32x4.add(a3, b3))
}

/** Four rows · two tokens (8 accumulators); writes both tokens' four outputs. */
// @ts-ignore: decorator
@inline function block4x2(out0: usize, out1: usize, n: i32, wb: usize, x0p: usize, x1p: usize, cols: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0)
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0)
  const full = cols >> 2
  for (let c = 0; c <= full; c++) {
    const rest = cols - (c << 2)
    if (rest <= 0) break
    const off = <usize>c << 4
    let x0: v128, x1: v128
    if (rest >= 4) {
      x0 = v128.load(x0p + off)
      x1 = v128.load(x1p + off)
    } else {
      x0 = loadTail(x0p + off, rest)
      x1 = loadTail(x1p + off, rest)
    }
    const p = wb + (<usize>c << 6)
    let w = v128.load(p)
    a0 = f32x4.add(a0, f32x4.mul(w, x0))
    b0 = f32x4.add(b0, f32x4.mul(w, x1))
    w = v128.load(p, 16)
    a1 = f32x4.add(a1, f32x4.mul(w, x0))
    b1 = f32x4.add(b1, f32x4.mul(w, x1))
    w = v128.load(p, 32)
    a2 = f32x4.add(a2, f32x4.mul(w, x0))
    b2 = f32x4.add(b2, f32x4.mul(w, x1))
    w = v128.load(p, 48)
    a3 = f32x4.add(a3, f32x4.mul(w, x0))
    b3 = f32x4.add(b3, f32x4.mul(w, x1))
  }
  storeLanes(out0, hsum4f(a0, a1, a2, a3), n)
  storeLanes(out1, hsum4f(b0, b1, b2, b3), n)
}

/** [a0 + a2, a1 + a3, b0 + b2, b1 + b3]: two rows' partial sums in two lanes each. */
// @ts-ignore: decorator
@inline function pairSum(a: v128, b: v128): v128 {
  return f32x4.add(i32x4.shuffle(a, b, 0, 1, 4, 5), i32x4.shuffle(a, b, 2, 3, 6, 7))
}

/** The four row sums [r0, r1, r2, r3] from pairSum accumulators of rows 0|1 and 2|3. */
// @ts-ignore: decorator
@inline function rowSums(a01: v128, a23: v128): v128 {
  return f32x4.add(i32x4.shuffle(a01, a23, 0, 2, 4, 6), i32x4.shuffle(a01, a23, 1, 3, 5, 7))
}

/**
 * Four blocks a quarter of the matrix apart (at w, w + dq, w + 2dq, w + 3dq) · one token: four
 * weight streams whatever the width (a narrow block's two halves are one stream). Each chunk's four
 * row products fold into two accumulators per block (pairSum), 8 in all.
 */
// @ts-ignore: decorator
@inline function quad4x1(out: usize, rows: i32, r0: i32, rq: i32, w: usize, dq: usize, x: usize, cols: i32): void {
  let a01 = f32x4.splat(0), a23 = f32x4.splat(0), b01 = f32x4.splat(0), b23 = f32x4.splat(0)
  let c01 = f32x4.splat(0), c23 = f32x4.splat(0), d01 = f32x4.splat(0), d23 = f32x4.splat(0)
  const chunks = (cols + 3) >> 2
  for (let c = 0; c < chunks; c++) {
    const rest = cols - (c << 2)
    const xv = rest >= 4 ? v128.load(x + (<usize>c << 4)) : loadTail(x + (<usize>c << 4), rest)
    const pa = w + (<usize>c << 6)
    const pb = pa + dq
    const pc = pb + dq
    const pd = pc + dq
    a01 = f32x4.add(a01, pairSum(f32x4.mul(v128.load(pa), xv), f32x4.mul(v128.load(pa, 16), xv)))
    a23 = f32x4.add(a23, pairSum(f32x4.mul(v128.load(pa, 32), xv), f32x4.mul(v128.load(pa, 48), xv)))
    b01 = f32x4.add(b01, pairSum(f32x4.mul(v128.load(pb), xv), f32x4.mul(v128.load(pb, 16), xv)))
    b23 = f32x4.add(b23, pairSum(f32x4.mul(v128.load(pb, 32), xv), f32x4.mul(v128.load(pb, 48), xv)))
    c01 = f32x4.add(c01, pairSum(f32x4.mul(v128.load(pc), xv), f32x4.mul(v128.load(pc, 16), xv)))
    c23 = f32x4.add(c23, pairSum(f32x4.mul(v128.load(pc, 32), xv), f32x4.mul(v128.load(pc, 48), xv)))
    d01 = f32x4.add(d01, pairSum(f32x4.mul(v128.load(pd), xv), f32x4.mul(v128.load(pd, 16), xv)))
    d23 = f32x4.add(d23, pairSum(f32x4.mul(v128.load(pd, 32), xv), f32x4.mul(v128.load(pd, 48), xv)))
  }
  storeBlocks4(out, rows, r0, rq, rowSums(a01, a23), rowSums(b01, b23), rowSums(c01, c23), rowSums(d01, d23))
}

/** out[rows] = W · x[cols] (one decode token): blocks b, b + Q, b + 2Q, b + 3Q together (Q = ⌊blocks / 4⌋), then the rest one by one. */
export function matvec_f32(out: usize, w: usize, rows: i32, cols: i32, x: usize): void {
  const stride = <usize>blockFloats(cols) << 2
  const blocks = (rows + 3) >> 2
  const Q = blocks >> 2
  for (let b = 0; b < Q; b++) quad4x1(out, rows, b << 2, Q << 2, w + <usize>b * stride, <usize>Q * stride, x, cols)
  for (let b = Q << 2; b < blocks; b++) {
    const r = b << 2
    storeLanes(out + (<usize>r << 2), block4x1(w + <usize>b * stride, x, cols), rows - r)
  }
}

/**
 * out[T, rows] = x[T, cols] · Wᵀ, blocked: a tile of tokens small enough to stay in L2 is swept
 * over every 4-row block, so each weight block is read from memory once per tile.
 */
export function matmul_f32(out: usize, w: usize, rows: i32, cols: i32, x: usize, T: i32): void {
  const stride = <usize>blockFloats(cols) << 2
  const xRow = <usize>cols << 2
  const oRow = <usize>rows << 2
  const tile = max(2, <i32>(<usize>196608 / xRow) & ~1)
  for (let t0 = 0; t0 < T; t0 += tile) {
    const t1 = min(T, t0 + tile)
    for (let r = 0; r < rows; r += 4) {
      const wb = w + <usize>(r >> 2) * stride
      const n = rows - r
      let t = t0
      for (; t + 1 < t1; t += 2) {
        const o = out + <usize>t * oRow + (<usize>r << 2)
        block4x2(o, o + oRow, n, wb, x + <usize>t * xRow, x + <usize>(t + 1) * xRow, cols)
      }
      if (t < t1) storeLanes(out + <usize>t * oRow + (<usize>r << 2), block4x1(wb, x + <usize>t * xRow, cols), n)
    }
  }
}

/** out[i, :] = W[ids[i], :] for i < n; ids is i32[n]. */
export function gather_rows_f32(out: usize, w: usize, cols: i32, ids: usize, n: i32): void {
  const stride = <usize>blockFloats(cols) << 2
  for (let i = 0; i < n; i++) {
    const r = load<i32>(ids + (<usize>i << 2))
    const rowBase = w + <usize>(r >> 2) * stride + (<usize>(r & 3) << 4)
    const o = out + <usize>i * cols * 4
    for (let c = 0; c < cols; c++) {
      store<f32>(o + (<usize>c << 2), load<f32>(rowBase + (<usize>(c >> 2) << 6) + (<usize>(c & 3) << 2)))
    }
  }
}
