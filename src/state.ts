// Per-session state (spec §3.5): per layer the conv and SSM states; K/V only for producer layers.
// Sliding-window producers hold the M meta entries plus a ring of the last W tokens (never more);
// global producers grow. Serialises to versioned, self-describing, checksummed bytes.
// Must not import: worker/, Node built-ins, any backend.
import type { Kernels } from './backend.ts'
import type { HymbaConfig, LayerPlan } from './config.ts'
import { BadState } from './errors.ts'

/** K/V of one producer layer: rows [cap, nkv·hd] / [cap, nkv·vd] with their packed positions. */
export class KvCache {
  constructor(
    private readonly kernels: Kernels,
    readonly window: LayerPlan['window'],
    readonly keyWidth: number, // nkv·hd
    readonly valueWidth: number, // nkv·vd
    readonly metaTokens: number, // M
    readonly ringSize: number, // W (sliding); unused for global
    public keys: Float32Array, // [cap, keyWidth]
    public values: Float32Array, // [cap, valueWidth]
    public positions: Int32Array, // [cap]
    public length: number, // rows in use
  ) {}

  static empty(kernels: Kernels, window: LayerPlan['window'], keyWidth: number, valueWidth: number, metaTokens: number, ringSize: number): KvCache {
    // Caches grow with use (a sliding one up to M + W), so a short session holds little.
    const cap = metaTokens + (window === 'sliding' ? Math.min(16, ringSize) : 16)
    return new KvCache(kernels, window, keyWidth, valueWidth, metaTokens, ringSize, kernels.alloc(cap * keyWidth), kernels.alloc(cap * valueWidth), new Int32Array(cap), 0)
  }

  get capacity(): number {
    return this.positions.length
  }

  /**
   * Store rows (packed positions pos0 … pos0+T−1). Meta rows (pos < M) go to rows 0..M−1; text
   * token i of a sliding cache goes to ring slot M + (i mod W), so only the last W survive.
   */
  write(keys: Float32Array, values: Float32Array, T: number, pos0: number): void {
    const M = this.metaTokens
    const end = pos0 + T
    const rowsAfter = this.rowsAfter(end)
    this.reserve(rowsAfter)
    for (let t = 0; t < T; t++) {
      const pos = pos0 + t
      if (this.window === 'sliding' && pos >= M && pos < end - this.ringSize) continue // would be overwritten in this call
      const row = pos < M || this.window === 'global' ? pos : M + ((pos - M) % this.ringSize)
      this.keys.set(keys.subarray(t * this.keyWidth, (t + 1) * this.keyWidth), row * this.keyWidth)
      this.values.set(values.subarray(t * this.valueWidth, (t + 1) * this.valueWidth), row * this.valueWidth)
      this.positions[row] = pos
    }
    this.length = rowsAfter
  }

  /**
   * Grow now to hold positions up to `end` (exclusive). The model calls it before a step allocates
   * its scratch, so a growing cache (long-lived) is not placed above short-lived buffers, where it
   * would split the free memory once they are gone (issue 3: fragmentation in a fixed memory).
   */
  reserveTo(end: number): void {
    this.reserve(this.rowsAfter(end))
  }

  /** Rows in use once positions up to `end` (exclusive) are written. */
  private rowsAfter(end: number): number {
    const M = this.metaTokens
    return this.window === 'global' ? Math.max(this.length, end) : end <= M ? end : M + Math.min(end - M, this.ringSize)
  }

  private reserve(rows: number): void {
    if (rows <= this.capacity) return
    const limit = this.window === 'sliding' ? this.metaTokens + this.ringSize : Infinity
    const cap = Math.min(limit, Math.max(rows, 2 * this.capacity))
    const keys = this.kernels.alloc(cap * this.keyWidth)
    const values = this.kernels.alloc(cap * this.valueWidth)
    const positions = new Int32Array(cap)
    keys.set(this.keys.subarray(0, this.length * this.keyWidth))
    values.set(this.values.subarray(0, this.length * this.valueWidth))
    positions.set(this.positions.subarray(0, this.length))
    this.kernels.free(this.keys)
    this.kernels.free(this.values)
    this.keys = keys
    this.values = values
    this.positions = positions
  }

  fork(): KvCache {
    const copy = KvCache.empty(this.kernels, this.window, this.keyWidth, this.valueWidth, this.metaTokens, this.ringSize)
    copy.reserve(this.length)
    copy.keys.set(this.keys.subarray(0, this.length * this.keyWidth))
    copy.values.set(this.values.subarray(0, this.length * this.valueWidth))
    copy.positions.set(this.positions.subarray(0, this.length))
    copy.length = this.length
    return copy
  }

  dispose(): void {
    this.kernels.free(this.keys)
    this.kernels.free(this.values)
  }
}

export interface LayerState {
  readonly conv: Float32Array // [K, E]: the last K pre-conv inputs, oldest first (spec §3.5: K, not K−1)
  readonly ssm: Float32Array // [E, N]
  readonly kv: KvCache | null // producers only
}

const MAGIC = 0x534d5948 // "HYMS" little-endian
const VERSION = 1

/** The compact state of one sequence: what a chat needs to continue without re-reading it. */
export class HymbaState {
  private disposed = false

  constructor(
    private readonly kernels: Kernels,
    private readonly config: HymbaConfig,
    /** Identifies the model whose weights produced this state (see HymbaModel.fingerprint). */
    readonly fingerprint: number,
    readonly layers: LayerState[],
    /** Text tokens processed (meta tokens excluded). */
    public textTokens: number,
  ) {}

  /** A state holding nothing: zero conv/SSM states, empty caches. */
  static empty(kernels: Kernels, config: HymbaConfig, fingerprint: number): HymbaState {
    const { innerSize: E, ssmStateSize: N, convKernel: K } = config
    const layers = config.layers.map(
      (plan): LayerState => ({
        conv: kernels.alloc(K * E),
        ssm: kernels.alloc(E * N),
        kv: plan.kv.produce
          ? KvCache.empty(kernels, plan.window, config.numKvHeads * config.headDim, config.numKvHeads * config.valueHeadDim, config.numMetaTokens, config.slidingWindow)
          : null,
      }),
    )
    return new HymbaState(kernels, config, fingerprint, layers, 0)
  }

  /** Packed position of the next token: M + text tokens so far (spec §3.4). */
  get nextPosition(): number {
    return this.config.numMetaTokens + this.textTokens
  }

  fork(): HymbaState {
    this.assertLive()
    const layers = this.layers.map((l) => {
      const conv = this.kernels.alloc(l.conv.length)
      const ssm = this.kernels.alloc(l.ssm.length)
      conv.set(l.conv)
      ssm.set(l.ssm)
      return { conv, ssm, kv: l.kv ? l.kv.fork() : null }
    })
    return new HymbaState(this.kernels, this.config, this.fingerprint, layers, this.textTokens)
  }

  /** Give the buffers back to the backend; the state is unusable afterwards. */
  dispose(): void {
    if (this.disposed) return
    this.disposed = true
    for (const l of this.layers) {
      this.kernels.free(l.conv)
      this.kernels.free(l.ssm)
      l.kv?.dispose()
    }
  }

  assertLive(): void {
    if (this.disposed) throw new BadState('this state was disposed')
  }

  /** Bytes of live state (f32): what serialize() writes, less the header. */
  get byteLength(): number {
    let bytes = 0
    for (const l of this.layers) {
      bytes += 4 * (l.conv.length + l.ssm.length)
      if (l.kv) bytes += l.kv.length * 4 * (l.kv.keyWidth + l.kv.valueWidth + 1)
    }
    return bytes
  }

  /**
   * Layout: magic u32 · version u32 · header length u32 · header JSON · pad to 4 · per layer
   * conv f32[K·E], ssm f32[E·N], (producers) keys f32[len·kw], values f32[len·vw], positions i32[len]
   * · CRC-32 u32 of everything before it.
   */
  serialize(): Uint8Array {
    this.assertLive()
    const header = new TextEncoder().encode(
      JSON.stringify({
        fingerprint: this.fingerprint,
        textTokens: this.textTokens,
        layers: this.layers.map((l) => ({ conv: l.conv.length, ssm: l.ssm.length, kv: l.kv ? l.kv.length : null })),
      }),
    )
    const headerEnd = align4(12 + header.byteLength)
    const total = headerEnd + this.byteLength + 4
    const bytes = new Uint8Array(total)
    const view = new DataView(bytes.buffer)
    view.setUint32(0, MAGIC, true)
    view.setUint32(4, VERSION, true)
    view.setUint32(8, header.byteLength, true)
    bytes.set(header, 12)
    let offset = headerEnd
    const put = (data: Float32Array | Int32Array) => {
      bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset)
      offset += data.byteLength
    }
    for (const l of this.layers) {
      put(l.conv)
      put(l.ssm)
      if (l.kv) {
        put(l.kv.keys.subarray(0, l.kv.length * l.kv.keyWidth))
        put(l.kv.values.subarray(0, l.kv.length * l.kv.valueWidth))
        put(l.kv.positions.subarray(0, l.kv.length))
      }
    }
    view.setUint32(offset, crc32(bytes.subarray(0, offset)), true)
    return bytes
  }

  /** Inverse of serialize(); refuses bytes from another model, version or with a bad checksum. */
  static deserialize(bytes: Uint8Array, kernels: Kernels, config: HymbaConfig, fingerprint: number): HymbaState {
    if (bytes.byteLength < 16) throw new BadState(`state truncated: ${bytes.byteLength} bytes`)
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    if (view.getUint32(0, true) !== MAGIC) throw new BadState('not a Hymba state (bad magic)')
    const version = view.getUint32(4, true)
    if (version !== VERSION) throw new BadState(`state version ${version} is not supported (expected ${VERSION})`)
    const stored = view.getUint32(bytes.byteLength - 4, true)
    if (crc32(bytes.subarray(0, bytes.byteLength - 4)) !== stored) throw new BadState('state checksum mismatch (corrupt or truncated)')
    const headerLength = view.getUint32(8, true)
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength))) as {
      fingerprint: number
      textTokens: number
      layers: { conv: number; ssm: number; kv: number | null }[]
    }
    if (header.fingerprint !== fingerprint) throw new BadState('state belongs to another model')
    const state = HymbaState.empty(kernels, config, fingerprint)
    if (header.layers.length !== state.layers.length) throw new BadState('state has the wrong number of layers')
    // Copy out of `bytes` into an aligned buffer so typed views can read it.
    const body = bytes.slice(align4(12 + headerLength), bytes.byteLength - 4)
    let offset = 0
    const take = <T extends Float32Array | Int32Array>(make: (b: ArrayBuffer, o: number, n: number) => T, n: number): T => {
      if (offset + 4 * n > body.byteLength) throw new BadState('state body truncated')
      const out = make(body.buffer, offset, n)
      offset += 4 * n
      return out
    }
    const f32 = (b: ArrayBuffer, o: number, n: number) => new Float32Array(b, o, n)
    const i32 = (b: ArrayBuffer, o: number, n: number) => new Int32Array(b, o, n)
    state.layers.forEach((l, i) => {
      const h = header.layers[i]
      if (h.conv !== l.conv.length || h.ssm !== l.ssm.length || (h.kv === null) !== (l.kv === null)) throw new BadState(`state layer ${i} has the wrong shape`)
      l.conv.set(take(f32, l.conv.length))
      l.ssm.set(take(f32, l.ssm.length))
      if (l.kv && h.kv !== null) {
        const kv = l.kv
        const keys = take(f32, h.kv * kv.keyWidth)
        const values = take(f32, h.kv * kv.valueWidth)
        const positions = take(i32, h.kv)
        // The window bounds a sliding cache (M + W rows), not its current capacity: caches grow with use.
        if (kv.window === 'sliding' && h.kv > kv.metaTokens + kv.ringSize) throw new BadState(`state layer ${i} holds more than the window`)
        // Restore rows in their slots: write() at the stored positions re-derives ring slots.
        for (let r = 0; r < h.kv; r++) kv.write(keys.subarray(r * kv.keyWidth), values.subarray(r * kv.valueWidth), 1, positions[r])
        kv.length = h.kv
      }
    })
    if (offset !== body.byteLength) throw new BadState('state body has trailing bytes')
    state.textTokens = header.textTokens
    return state
  }
}

/**
 * Bytes of state after L text tokens (spec §3.5), with b bytes per element of `dtype`:
 * every layer E·(K+N); global producers (M+L)·nkv·(hd+vd); sliding producers (M+min(L,W))·nkv·(hd+vd).
 */
export function stateBytes(config: HymbaConfig, L: number, dtype: 'float32' | 'bfloat16' | 'float16'): number {
  const b = dtype === 'float32' ? 4 : 2
  const { innerSize: E, convKernel: K, ssmStateSize: N, numMetaTokens: M, numKvHeads, headDim, valueHeadDim } = config
  const perRow = numKvHeads * (headDim + valueHeadDim)
  let elements = 0
  for (const plan of config.layers) {
    elements += E * (K + N)
    if (!plan.kv.produce) continue
    elements += (M + (plan.window === 'global' ? L : Math.min(L, config.slidingWindow))) * perRow
  }
  return elements * b
}

const align4 = (n: number) => (n + 3) & ~3

const CRC_TABLE = (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()

/** CRC-32 (IEEE), as in zip and PNG. */
export function crc32(bytes: Uint8Array, seed = 0): number {
  let c = ~seed >>> 0
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8)
  return ~c >>> 0
}
