// Per-sequence state resident on the GPU (the layout of src/state.ts): per layer the conv state
// [K, E] and SSM state [E, N]; per KV producer the keys, values and packed positions, M meta rows
// then a ring of W slots (sliding) or one row per position, grown on demand (global). A snapshot
// (GPU-side copies into buffers kept per state) lets chained greedy decoding undo the steps it ran
// past a stop token.
// Must not import: worker/, Node built-ins, src/model.ts.
import type { HymbaConfig, LayerPlan } from '../config.ts'
import { BadState } from '../errors.ts'
import { storage } from './gpu.ts'

export interface GpuKvCache {
  readonly window: LayerPlan['window']
  keys: GPUBuffer // [capacity, nkv·hd]
  values: GPUBuffer // [capacity, nkv·vd]
  positions: GPUBuffer // [capacity] i32
  capacity: number // rows
}

export interface GpuLayerState {
  readonly conv: GPUBuffer // [K, E]
  readonly ssm: GPUBuffer // [E, N]
  readonly kv: GpuKvCache | null // producers only
}

/** What a decode step overwrites: conv and SSM states and the sliding rings. A global cache only
 * gains rows at positions past the state's length, which attention never reads after a rollback. */
interface Snapshot {
  readonly sources: GPUBuffer[]
  readonly copies: GPUBuffer[]
}

export class WebGpuState {
  private disposed = false
  private snapshotBuffers: Snapshot | null = null
  /** Bumped whenever a buffer is replaced: bind groups built before are stale. */
  revision = 0

  private constructor(
    private readonly device: GPUDevice,
    private readonly config: HymbaConfig,
    readonly layers: GpuLayerState[],
    /** Text tokens processed (meta tokens excluded). */
    public textTokens: number,
  ) {}

  /** Zero conv/SSM states, empty caches. */
  static empty(device: GPUDevice, config: HymbaConfig): WebGpuState {
    const { innerSize: E, ssmStateSize: N, convKernel: K, numMetaTokens: M } = config
    const layers = config.layers.map(
      (plan): GpuLayerState => ({
        conv: storage(device, `conv ${plan.index}`, 4 * K * E),
        ssm: storage(device, `ssm ${plan.index}`, 4 * E * N),
        kv: plan.kv.produce ? emptyCache(device, config, plan, plan.window === 'sliding' ? M + config.slidingWindow : M + 256) : null,
      }),
    )
    return new WebGpuState(device, config, layers, 0)
  }

  /** Packed position of the next token: M + text tokens so far (spec §3.4). */
  get nextPosition(): number {
    return this.config.numMetaTokens + this.textTokens
  }

  /** An independent copy (copies are queued; later GPU work sees them). */
  fork(): WebGpuState {
    this.assertLive()
    const encoder = this.device.createCommandEncoder()
    const copy = (b: GPUBuffer, label: string, size = b.size) => {
      const out = storage(this.device, label, size)
      encoder.copyBufferToBuffer(b, 0, out, 0, Math.min(size, b.size))
      return out
    }
    const layers = this.layers.map((l, i) => ({
      conv: copy(l.conv, `conv ${i}`),
      ssm: copy(l.ssm, `ssm ${i}`),
      kv: l.kv
        ? { window: l.kv.window, capacity: l.kv.capacity, keys: copy(l.kv.keys, `keys ${i}`), values: copy(l.kv.values, `values ${i}`), positions: copy(l.kv.positions, `positions ${i}`) }
        : null,
    }))
    this.device.queue.submit([encoder.finish()])
    return new WebGpuState(this.device, this.config, layers, this.textTokens)
  }

  /** Queue a copy of the state into its snapshot buffers (textTokens is the caller's to keep). */
  snapshot(): void {
    this.assertLive()
    if (!this.snapshotBuffers) {
      const sources = this.layers.flatMap((l) => [l.conv, l.ssm, ...(l.kv?.window === 'sliding' ? [l.kv.keys, l.kv.values, l.kv.positions] : [])])
      this.snapshotBuffers = { sources, copies: sources.map((b) => storage(this.device, `snapshot of ${b.label}`, b.size)) }
    }
    this.copyAll(this.snapshotBuffers.sources, this.snapshotBuffers.copies)
  }

  /** Queue copying the last snapshot back and return to `textTokens` text tokens. */
  restore(textTokens: number): void {
    this.assertLive()
    if (!this.snapshotBuffers) throw new BadState('restore() without a snapshot()')
    this.copyAll(this.snapshotBuffers.copies, this.snapshotBuffers.sources)
    this.textTokens = textTokens
  }

  private copyAll(from: readonly GPUBuffer[], to: readonly GPUBuffer[]): void {
    const encoder = this.device.createCommandEncoder()
    from.forEach((b, i) => encoder.copyBufferToBuffer(b, 0, to[i], 0, b.size))
    this.device.queue.submit([encoder.finish()])
  }

  /** Grow global caches so that `rows` rows fit (copying what they hold); true if any grew. */
  reserve(rows: number): boolean {
    let grew = false
    const encoder = this.device.createCommandEncoder()
    const old: GPUBuffer[] = []
    const { numKvHeads: nkv, headDim: hd, valueHeadDim: vd } = this.config
    this.layers.forEach((l, i) => {
      const kv = l.kv
      if (!kv || kv.window !== 'global' || kv.capacity >= rows) return
      const capacity = Math.max(rows, 2 * kv.capacity)
      const grow = (b: GPUBuffer, label: string, rowBytes: number) => {
        const out = storage(this.device, label, rowBytes * capacity)
        encoder.copyBufferToBuffer(b, 0, out, 0, b.size)
        old.push(b)
        return out
      }
      kv.keys = grow(kv.keys, `keys ${i}`, 4 * nkv * hd)
      kv.values = grow(kv.values, `values ${i}`, 4 * nkv * vd)
      kv.positions = grow(kv.positions, `positions ${i}`, 4)
      kv.capacity = capacity
      grew = true
    })
    if (grew) {
      this.device.queue.submit([encoder.finish()])
      for (const b of old) b.destroy()
      this.revision++
    }
    return grew
  }

  assertLive(): void {
    if (this.disposed) throw new BadState('this state was disposed')
  }

  dispose(): void {
    if (this.disposed) return
    this.disposed = true
    for (const b of this.snapshotBuffers?.copies ?? []) b.destroy()
    for (const l of this.layers) {
      l.conv.destroy()
      l.ssm.destroy()
      if (l.kv) for (const b of [l.kv.keys, l.kv.values, l.kv.positions]) b.destroy()
    }
  }
}

function emptyCache(device: GPUDevice, config: HymbaConfig, plan: LayerPlan, capacity: number): GpuKvCache {
  const kw = config.numKvHeads * config.headDim
  const vw = config.numKvHeads * config.valueHeadDim
  return {
    window: plan.window,
    capacity,
    keys: storage(device, `keys ${plan.index}`, 4 * capacity * kw),
    values: storage(device, `values ${plan.index}`, 4 * capacity * vw),
    positions: storage(device, `positions ${plan.index}`, 4 * capacity),
  }
}
