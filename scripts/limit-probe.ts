// The machine's limits (wasm FMA and mul+add peaks, streaming reads), the one probe every benchmark
// uses: scripts/bench.ts for the run's limits (wall clock and CPU time, in a fresh child) and for each
// end-to-end row in the process that times the model (the Node child, or the bench worker inside
// workerd), right before and after its decode timing, so that a row's roofline sees the machine in the
// state its decode saw (this VM's speed moved by up to 2× between runs minutes apart); scripts/
// bench-kernels.ts alone. Portable: no Node built-ins, only a clock passed in.
// Owns: MachineLimits, LimitProbe.
// Must not import: Node built-ins, worker/, src/.

/** The best of the probes taken so far. */
export interface MachineLimits {
  readonly fmaGflops?: number // f32x4.relaxed_madd peak (kernels/limits_relaxed.ts), where relaxed SIMD runs
  readonly mulAddGflops: number // f32x4 mul + add peak (kernels/limits.ts)
  readonly streamGBs: number // read of 256 MiB of wasm memory: the best of 1, 4 and 8 interleaved streams (kernels/limits.ts)
  readonly stream32MiBGBs: number // the same over 32 MiB (the size of mid-sized matrices; may sit partly in the last-level cache)
  readonly sequentialGBs: number // 256 MiB read as one sequential stream (the earlier rounds' bandwidth limit)
}

interface LimitExports {
  peak_mul_add_f32(iters: number): number
  stream_read_f32(ptr: number, bytes: number, streams: number): number
}

const STREAM_BYTES = 256 << 20
/** Interleaved streams tried beside the sequential read: one core's DRAM reads scale with them on this VM. */
const STREAMS = [4, 8]
const ITERS = 1_000_000 // 96 MFLOP a peak call: ~3–5 ms at this machine's peaks

/**
 * Instantiated limit modules and a 256 MiB buffer, probed on `clock` (ms). Each measurement is the
 * fastest of `rounds` batches of ≥ 50 ms (workerd's clock ticks in whole milliseconds).
 */
export class LimitProbe {
  private readonly plain: LimitExports
  private readonly fma?: { peak_fma_f32(iters: number): number }
  private best: MachineLimits = { mulAddGflops: 0, streamGBs: 0, stream32MiBGBs: 0, sequentialGBs: 0 }

  private constructor(private readonly instances: [WebAssembly.Instance, WebAssembly.Instance | undefined], private readonly clock: () => number) {
    this.plain = instances[0].exports as unknown as LimitExports
    this.fma = instances[1]?.exports as unknown as { peak_fma_f32(iters: number): number } | undefined
  }

  /** A probe on another clock over the same modules and 256 MiB buffer, keeping its own best. */
  on(clock: () => number): LimitProbe {
    return new LimitProbe(this.instances, clock)
  }

  /** limits: kernels/limits.ts compiled; fma: kernels/limits_relaxed.ts compiled (undefined where relaxed SIMD is off). */
  static async create(limits: WebAssembly.Module, fma: WebAssembly.Module | undefined, clock: () => number): Promise<LimitProbe> {
    const memory = new WebAssembly.Memory({ initial: STREAM_BYTES / 65536 + 16, maximum: STREAM_BYTES / 65536 + 16 })
    new Float32Array(memory.buffer, 1 << 20, STREAM_BYTES / 4).fill(1)
    const plain = await WebAssembly.instantiate(limits, { env: { memory } })
    const relaxed = fma ? await WebAssembly.instantiate(fma, { env: { memory: new WebAssembly.Memory({ initial: 1, maximum: 1 }) } }) : undefined
    return new LimitProbe([plain, relaxed], clock)
  }

  /** Seconds per call of fn: the fastest of `rounds` batches of ≥ 50 ms. */
  private fastest(fn: () => unknown, rounds = 5): number {
    let reps = 1
    for (;;) {
      const t0 = this.clock()
      for (let i = 0; i < reps; i++) fn()
      if (this.clock() - t0 >= 50) break
      reps *= 2
    }
    let best = Infinity
    for (let r = 0; r < rounds; r++) {
      const t0 = this.clock()
      for (let i = 0; i < reps; i++) fn()
      best = Math.min(best, (this.clock() - t0) / reps / 1e3)
    }
    return best
  }

  /** Takes one set of probes; the row keeps the best of all sets taken. */
  probe(): void {
    const flops = ITERS * 12 * 4 * 2
    const mulAdd = flops / this.fastest(() => this.plain.peak_mul_add_f32(ITERS)) / 1e9
    const read = (bytes: number, streams: number) => bytes / this.fastest(() => this.plain.stream_read_f32(1 << 20, bytes, streams), 3) / 1e9
    const sequential = read(STREAM_BYTES, 1)
    const stream = Math.max(sequential, ...STREAMS.map((n) => read(STREAM_BYTES, n)))
    const stream32 = Math.max(...[1, ...STREAMS].map((n) => read(32 << 20, n)))
    const fma = this.fma ? flops / this.fastest(() => this.fma!.peak_fma_f32(ITERS)) / 1e9 : undefined
    this.best = {
      mulAddGflops: Math.max(this.best.mulAddGflops, mulAdd),
      streamGBs: Math.max(this.best.streamGBs, stream),
      stream32MiBGBs: Math.max(this.best.stream32MiBGBs, stream32),
      sequentialGBs: Math.max(this.best.sequentialGBs, sequential),
      ...(fma === undefined ? {} : { fmaGflops: Math.max(this.best.fmaGflops ?? 0, fma) }),
    }
  }

  get limits(): MachineLimits {
    return this.best
  }
}
