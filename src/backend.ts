// The kernel interface: every heavy operation of the forward pass goes through `Kernels`.
// Owns: the contract between the model (src/model.ts) and a backend (src/reference, wasm/, webgpu).
// Must not import: any backend, worker/, Node built-ins.
//
// Conventions
// - All activations are row-major Float32Array; shapes are written as `// [rows, cols]`.
// - Buffers from `alloc` belong to the backend (a WASM backend returns views into its linear
//   memory so kernels run without copies); any other Float32Array is also accepted (a backend may
//   copy it in). `free` returns a buffer; using it afterwards is a bug.
// - `out` may alias an input only where a method says so.

/** A weight matrix [rows, cols] as stored on the host, before the backend prepares it. */
export type MatrixSource =
  | { readonly format: 'f32'; readonly rows: number; readonly cols: number; readonly data: Float32Array } // [rows, cols]
  // int8, symmetric, one f32 scale per `group` consecutive columns of a row: w = scale · q
  | {
      readonly format: 'q8'
      readonly rows: number
      readonly cols: number
      readonly group: number
      readonly data: Int8Array // [rows, cols]
      readonly scales: Float32Array // [rows, cols / group]
    }
  // int4, symmetric, one f32 scale per `group` columns: w = scale · (nibble − 8); two columns per
  // byte, the even column in the low nibble.
  | {
      readonly format: 'q4'
      readonly rows: number
      readonly cols: number
      readonly group: number
      readonly data: Uint8Array // [rows, cols / 2]
      readonly scales: Float32Array // [rows, cols / group]
    }

/** A matrix prepared by a backend (layout, quantisation, residency are the backend's business). */
export interface Matrix {
  readonly rows: number
  readonly cols: number
  readonly format: MatrixSource['format']
  /** Bytes this matrix occupies in the backend. */
  readonly bytes: number
}

/** Which keys a query may see (spec §2.4, §3.2); see src/window.ts. */
export interface AttentionShape {
  readonly queries: number // T
  readonly keys: number // S
  readonly heads: number // nh
  readonly kvHeads: number // nkv; query head h reads kv head ⌊h / (nh / nkv)⌋
  readonly headDim: number // hd (q and k)
  readonly valueDim: number // vd
  readonly queryPos0: number // packed position of query 0; query t has queryPos0 + t
  readonly metaTokens: number // M: keys at packed positions < M are always visible (if causal)
  readonly span: number // text keys visible iff qpos − kpos ≤ span; Infinity for global layers
}

export interface Kernels {
  readonly name: string

  /** A zeroed buffer of `length` floats owned by the backend. */
  alloc(length: number): Float32Array
  /** Give back a buffer from `alloc`. */
  free(buffer: Float32Array): void

  /** Prepare a weight matrix once at load (the source may be dropped afterwards). */
  prepareMatrix(source: MatrixSource): Matrix

  /** out[T, rows] = x[T, cols] · Wᵀ. */
  matmul(out: Float32Array, x: Float32Array, w: Matrix, T: number): void

  /** out[i, :] = W[ids[i], :] (dequantised); the embedding lookup on the tied lm_head. */
  gatherRows(out: Float32Array, w: Matrix, ids: ArrayLike<number>): void

  /** out[T, dim] = x · rsqrt(mean(x²) + eps) · weight, per row (spec §2.2). out may alias x. */
  rmsNorm(out: Float32Array, x: Float32Array, weight: Float32Array, T: number, dim: number, eps: number): void

  /**
   * In-place RoPE, rotate_half convention (pairs j, j + d/2) on x[T, heads·d]; row t has position
   * pos0 + t; angle = fround(pos · invFreq[j]) (spec §2.4).
   */
  rope(x: Float32Array, T: number, heads: number, headDim: number, pos0: number, invFreq: Float32Array): void

  /**
   * out[T, nh·vd] = softmax(q·kᵀ / sqrt(hd) over visible keys) · v.
   * q [T, nh·hd], keys [S, nkv·hd], values [S, nkv·vd], keyPos [S] packed positions (any order).
   * Visible: kpos ≤ qpos AND (kpos < M OR qpos − kpos ≤ span).
   */
  attention(
    out: Float32Array,
    q: Float32Array,
    keys: Float32Array,
    values: Float32Array,
    keyPos: Int32Array,
    shape: AttentionShape,
  ): void

  /**
   * Depthwise causal conv + SiLU over T steps, continuing from `state` [K, E] (the last K pre-conv
   * inputs, oldest first), which is updated: out[t, e] = SiLU(bias[e] + Σ_k w[e, k] · window_t[k, e]),
   * window_t = the K inputs ending at x[t]. x [T, E], weight [E, K], bias [E] or null.
   */
  causalConv(
    out: Float32Array,
    x: Float32Array,
    state: Float32Array,
    weight: Float32Array,
    bias: Float32Array | null,
    T: number,
    channels: number,
    kernel: number,
  ): void

  /**
   * Selective scan over T steps, continuing from `state` [E, N] (updated), spec §2.5:
   * Δ = softplus20(dt + dtBias); s = exp(Δ·A)⊙s + (Δ·u)⊗B; y = (s·C + D⊙u) ⊙ SiLU(z).
   * u, dt, z, out [T, E]; A [E, N] (already −exp(A_log)); B, C [T, N]; dtBias, D [E].
   */
  selectiveScan(
    out: Float32Array,
    state: Float32Array,
    u: Float32Array,
    dt: Float32Array,
    dtBias: Float32Array,
    A: Float32Array,
    B: Float32Array,
    C: Float32Array,
    D: Float32Array,
    z: Float32Array,
    T: number,
    channels: number,
    stateDim: number,
  ): void

  /** out[i] = SiLU(gate[i]) · up[i]. out may alias gate or up. */
  siluMul(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void
  /** out[i] = max(x[i], 0)². out may alias x. */
  relu2(out: Float32Array, x: Float32Array, n: number): void
  /** x[i] += y[i]. */
  addInto(x: Float32Array, y: Float32Array, n: number): void
  /** x[t, j] += bias[j] for x [T, n]. */
  addBias(x: Float32Array, bias: Float32Array, T: number, n: number): void
  /** out[i] = (a[i] + b[i]) / 2. out may alias a or b. */
  mean2(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void

  /**
   * Greedy decoding's pick: the first index of the largest of x[0, n), n ≥ 1, by src/sampling.ts
   * argmax's rule (a value wins only by comparing greater: NaN never wins, a NaN at 0 keeps 0).
   */
  argmax(x: Float32Array, n: number): number
}
