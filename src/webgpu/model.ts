// The Hymba forward pass on WebGPU with weights and per-sequence state resident on the GPU: the
// semantics of src/model.ts HymbaModel (prefill / append / decode, the meta prefix computed once,
// the two window rules), asynchronous because only the logits are read back per step, or less:
// the k most likely tokens (decodeTopK) or a chain of greedy tokens (decodeGreedy), picked on the GPU.
// Must not import: worker/, Node built-ins.
import type { CheckpointSource } from '../checkpoint.ts'
import { TensorStore } from '../checkpoint.ts'
import type { HymbaConfig } from '../config.ts'
import { InvalidInput } from '../errors.ts'
import { checkpointReader, readConfig } from '../load.ts'
import { ropeInverseFrequencies } from '../model.ts'
import type { WeightReader } from '../weights.ts'
import type { WindowRule } from '../window.ts'
import { MAP_READ, requestGpu, storage, Usage, type Gpu } from './gpu.ts'
import { KernelSet, matrixKernelNames, type KernelName, type ShaderSource } from './kernels.ts'
import { buildProgram, planParams, Scratch, type ParamSlots, type Program, type Steps } from './program.ts'
import { WebGpuState } from './state.ts'
import { allMatrices, destroyWeights, uploadWeights, type GpuWeights } from './weights.ts'

export interface WebGpuModelOptions {
  /** Reads kernels/wgsl/<file>. */
  readonly shaders: ShaderSource
  /** A device to use (default: requestGpu()). */
  readonly gpu?: Gpu
  /**
   * The f16 path: store f32 matrices as f16 (half the bytes; products and sums stay f32) when the
   * adapter has `shader-f16`; ignored without it. Logits then match a float32 run on weights rounded
   * to f16, not the checkpoint's (test/webgpu/fixture-checks.ts). Default false.
   */
  readonly f16Weights?: boolean
}

export interface WebGpuForwardOptions {
  /** Logits for every input row ([T, V]) instead of the last one only ([V]). */
  readonly allLogits?: boolean
}

/** The k most likely next tokens of a step: p(ids[i]) = exp(logits[i] − logSumExp). */
export interface TopK {
  readonly ids: Uint32Array // [k], most likely first (ties: the lower id)
  readonly logits: Float32Array // [k]
  readonly logSumExp: number // log Σ exp over all V logits
}

/** Token ids on the CPU, float rows (the meta tokens), or the id top_k left in the ids buffer. */
type Input = { readonly ids: readonly number[] } | { readonly rows: Float32Array; readonly count: number } | { readonly chained: true }

interface Pick {
  readonly k: number
  readonly slot: number
  readonly feed: boolean
}

const SLOT = 256 // bytes per uniform block (minUniformBufferOffsetAlignment)

export class WebGpuModel {
  private readonly device: GPUDevice
  private readonly invFreq: Float32Array // [hd/2]
  private readonly scratch: Scratch
  private readonly stepBuffer: GPUBuffer // Steps: four blocks
  private readonly stepBlocks = new ArrayBuffer(3 * SLOT + 16)
  private readonly steps: Steps
  private readonly dummies: [GPUBuffer, GPUBuffer]
  private readonly programs = new WeakMap<WebGpuState, { generation: number; revision: number; program: Program }>()
  private readback: GPUBuffer | null = null
  private pickReadback: GPUBuffer | null = null
  private queue: Promise<unknown> = Promise.resolve()
  private metaPrefix: WebGpuState | null = null

  private constructor(
    readonly config: HymbaConfig,
    readonly gpu: Gpu,
    private readonly weights: GpuWeights,
    private readonly kernels: KernelSet,
    private readonly slots: ParamSlots,
    /** Matrices are stored as f16 (the f16 path is in use). */
    readonly f16Weights: boolean,
  ) {
    this.device = gpu.device
    this.invFreq = ropeInverseFrequencies(config.ropeBase, config.headDim)
    this.scratch = new Scratch(this.device, config)
    this.scratch.ensurePicks(64)
    this.stepBuffer = this.device.createBuffer({ label: 'steps', size: 4 * SLOT, usage: Usage.UNIFORM | Usage.COPY_DST })
    const block = (i: number): GPUBufferBinding => ({ buffer: this.stepBuffer, offset: i * SLOT, size: 16 })
    this.steps = { layer: block(0), head: block(1), logits: block(2), pick: block(3) }
    this.dummies = [storage(this.device, 'no keys', 16), storage(this.device, 'no values', 16)]
  }

  /** Upload the weights, compile the kernels they need and compute the meta-token prefix. */
  static async create(config: HymbaConfig, reader: WeightReader, options: WebGpuModelOptions): Promise<WebGpuModel> {
    const gpu = options.gpu ?? (await requestGpu())
    const f16 = (options.f16Weights ?? false) && gpu.f16
    const weights = uploadWeights(gpu.device, config, reader, { f16 })
    const names: KernelName[] = ['rmsnorm_f32', 'norm_mean_f32', 'split_rope_f32', 'attention_f32', 'kv_store_f32', 'causal_conv_f32', 'ssm_scan_f32', 'gate_f32', 'top_k_f32']
    for (const layout of new Set(allMatrices(weights).map((m) => m.layout))) names.push(...Object.values(matrixKernelNames(layout)))
    const kernels = await KernelSet.compile(gpu.device, options.shaders, names)
    const model = new WebGpuModel(config, gpu, weights, kernels, planParams(gpu.device, config, weights), allMatrices(weights).some((m) => m.layout === 'f16'))
    await model.computeMetaPrefix()
    return model
  }

  /** An HF checkpoint folder (config.json + safetensors), every matrix f32 (or f16: options.f16Weights). */
  static async load(source: CheckpointSource, options: WebGpuModelOptions): Promise<WebGpuModel> {
    const config = await readConfig(source)
    return WebGpuModel.create(config, checkpointReader(await TensorStore.open(source)), options)
  }

  /** A new sequence: a private copy of the shared meta-token prefix state (spec §2.1). */
  newState(): WebGpuState {
    return this.metaPrefix!.fork()
  }

  /** The state after the M meta tokens alone: depends only on the weights, computed once. */
  private async computeMetaPrefix(): Promise<void> {
    const state = WebGpuState.empty(this.device, this.config)
    const M = this.config.numMetaTokens
    if (M > 0) await this.exclusive(async () => this.submit(this.record(state, { rows: this.weights.metaTokens, count: M }, 0, 'prefill', 0)))
    this.metaPrefix = state
  }

  /** Prompt on a fresh state (prefill window rule). Logits of the last token [V], or [P, V]. */
  prefill(state: WebGpuState, ids: readonly number[], options: WebGpuForwardOptions = {}): Promise<Float32Array> {
    if (state.textTokens !== 0) throw new InvalidInput('prefill needs a fresh state; use append() to continue a sequence')
    return this.forward(state, ids, 'prefill', options)
  }

  /** A chunk on top of a state, batched, with the decode window rule: equals decode() one by one. */
  append(state: WebGpuState, ids: readonly number[], options: WebGpuForwardOptions = {}): Promise<Float32Array> {
    return this.forward(state, ids, 'decode', options)
  }

  /** One token through the cache (spec §3.4). Logits [V]. */
  decode(state: WebGpuState, id: number): Promise<Float32Array> {
    return this.forward(state, [id], 'decode', {})
  }

  /** decode(), but only the k most likely next tokens come back (8k + 4 bytes instead of 4V): for samplers. */
  decodeTopK(state: WebGpuState, id: number, k: number): Promise<TopK> {
    this.check(state, [id])
    if (!Number.isInteger(k) || k < 1 || k > this.config.vocabSize) throw new InvalidInput(`k must be an integer in [1, ${this.config.vocabSize}], got ${k}`)
    return this.exclusive(async () => {
      const pos0 = state.nextPosition
      state.textTokens += 1
      this.scratch.ensurePicks(2 * k + 1)
      const encoder = this.record(state, { ids: [id] }, pos0, 'decode', 1, { k, slot: 0, feed: false })
      const words = new Uint32Array(await this.submitAndReadPicks(encoder, 2 * k + 1))
      const values = new Float32Array(words.buffer)
      return { ids: words.slice(0, k), logits: values.slice(k, 2 * k), logSumExp: values[2 * k] }
    })
  }

  /**
   * Greedy decoding chained on the GPU: `count` decode steps from input `id`, each step's argmax
   * (top_k, k = 1) feeding the next without a round trip, and one readback of the picks at the end
   * (issue 6: the per-token fixed cost is the readback's latency). Returns the tokens, cut after the
   * first one in `stopIds`. Every returned token but the last has been consumed, as with decode()
   * one by one: steps run past a stop token are undone (snapshot, restore, replay of the consumed ids).
   */
  decodeGreedy(state: WebGpuState, id: number, count: number, stopIds: readonly number[] = []): Promise<number[]> {
    this.check(state, [id])
    if (!Number.isInteger(count) || count < 1) throw new InvalidInput(`count must be a positive integer, got ${count}`)
    return this.exclusive(async () => {
      const textTokens = state.textTokens
      const pos0 = state.nextPosition
      state.reserve(pos0 + count)
      const stops = new Set(stopIds)
      if (stops.size > 0 && count > 1) state.snapshot()
      this.scratch.ensurePicks(3 * count)
      let encoder: GPUCommandEncoder | null = null
      for (let i = 0; i < count; i++) {
        if (encoder) this.submit(encoder)
        encoder = this.record(state, i === 0 ? { ids: [id] } : { chained: true }, pos0 + i, 'decode', 1, { k: 1, slot: i, feed: true })
        state.textTokens += 1
      }
      const words = new Uint32Array(await this.submitAndReadPicks(encoder!, 3 * count))
      const tokens = Array.from({ length: count }, (_, i) => words[3 * i])
      const stop = tokens.findIndex((t) => stops.has(t))
      if (stop < 0 || stop === count - 1) return tokens
      state.restore(textTokens)
      for (const input of [id, ...tokens.slice(0, stop)]) {
        this.submit(this.record(state, { ids: [input] }, state.nextPosition, 'decode', 0))
        state.textTokens += 1
      }
      return tokens.slice(0, stop + 1)
    })
  }

  private check(state: WebGpuState, ids: readonly number[]): void {
    state.assertLive()
    if (ids.length === 0) throw new InvalidInput('no tokens given')
    for (const id of ids)
      if (!Number.isInteger(id) || id < 0 || id >= this.config.vocabSize) throw new InvalidInput(`token id ${id} is outside the vocabulary [0, ${this.config.vocabSize})`)
  }

  private forward(state: WebGpuState, ids: readonly number[], rule: WindowRule, options: WebGpuForwardOptions): Promise<Float32Array> {
    this.check(state, ids)
    const R = options.allLogits ? ids.length : 1
    return this.exclusive(async () => {
      const pos0 = state.nextPosition
      state.textTokens += ids.length
      const encoder = this.record(state, { ids }, pos0, rule, R)
      const bytes = 4 * R * this.config.vocabSize
      if (!this.readback || this.readback.size < bytes) {
        this.readback?.destroy()
        this.readback = this.device.createBuffer({ label: 'logits readback', size: bytes, usage: Usage.MAP_READ | Usage.COPY_DST })
      }
      encoder.copyBufferToBuffer(this.scratch.logits!, 0, this.readback, 0, bytes)
      this.submit(encoder)
      await this.readback.mapAsync(MAP_READ, 0, bytes)
      const logits = new Float32Array(this.readback.getMappedRange(0, bytes).slice(0))
      this.readback.unmap()
      return logits
    })
  }

  /** Run `work` after every earlier step (the scratch buffers and readbacks are shared). */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work)
    this.queue = result.catch(() => undefined)
    return result
  }

  private submit(encoder: GPUCommandEncoder): void {
    this.device.queue.submit([encoder.finish()])
  }

  /** Copy the first `words` u32 of the picks back (with the work recorded in `encoder`). */
  private async submitAndReadPicks(encoder: GPUCommandEncoder, words: number): Promise<ArrayBuffer> {
    const bytes = 4 * words
    if (!this.pickReadback || this.pickReadback.size < bytes) {
      this.pickReadback?.destroy()
      this.pickReadback = this.device.createBuffer({ label: 'picks readback', size: Math.max(256, 2 * bytes), usage: Usage.MAP_READ | Usage.COPY_DST })
    }
    encoder.copyBufferToBuffer(this.scratch.picks!, 0, this.pickReadback, 0, Math.ceil(bytes / 4) * 4)
    this.submit(encoder)
    await this.pickReadback.mapAsync(MAP_READ, 0, bytes)
    const copy = this.pickReadback.getMappedRange(0, bytes).slice(0)
    this.pickReadback.unmap()
    return copy
  }

  /** Write one step's uniforms and inputs and record its dispatches (one pass): T input rows, the last R of them through the head, then `pick`. */
  private record(state: WebGpuState, input: Input, pos0: number, rule: WindowRule, R: number, pick?: Pick): GPUCommandEncoder {
    const T = 'ids' in input ? input.ids.length : 'rows' in input ? input.count : 1
    this.scratch.ensure(T, Math.max(R, 1))
    state.reserve(pos0 + T)
    const program = this.programFor(state)
    const b = this.scratch.buffers!
    const queue = this.device.queue
    const ruleCode = rule === 'prefill' ? 0 : 1
    const blocks = this.stepBlocks
    new Uint32Array(blocks, 0, 4).set([T, 0, pos0, ruleCode])
    new Uint32Array(blocks, SLOT, 4).set([R, T - R, pos0, ruleCode])
    new Uint32Array(blocks, 2 * SLOT, 4).set([R, 0, pos0, ruleCode])
    if (pick) new Uint32Array(blocks, 3 * SLOT, 4).set([this.config.vocabSize, pick.k, pick.slot, pick.feed ? 1 : 0])
    queue.writeBuffer(this.stepBuffer, 0, blocks)
    queue.writeBuffer(b.rope, 0, this.ropeTable(pos0, T))
    if ('ids' in input) queue.writeBuffer(b.ids, 0, new Uint32Array(input.ids))
    else if ('rows' in input) queue.writeBuffer(b.x, 0, input.rows)

    const encoder = this.device.createCommandEncoder()
    const pass = encoder.beginComputePass()
    if (!('rows' in input)) program.embed(pass, T, R)
    for (const op of program.layers) op(pass, T, R)
    for (const op of program.store) op(pass, T, R)
    if (R > 0) for (const op of program.head) op(pass, T, R)
    if (pick) program.pick(pass, T, R)
    pass.end()
    return encoder
  }

  /** The state's dispatches, rebuilt only when its buffers or the scratch buffers changed. */
  private programFor(state: WebGpuState): Program {
    const cached = this.programs.get(state)
    if (cached && cached.generation === this.scratch.generation && cached.revision === state.revision) return cached.program
    const program = buildProgram(this.config, this.weights, this.kernels, this.slots, this.scratch, this.steps, state, this.dummies)
    this.programs.set(state, { generation: this.scratch.generation, revision: state.revision, program })
    return program
  }

  /** (cos, sin)[t, j] of angle fround(pos · invFreq[j]), rounded to f32 as the reference does (spec §2.4). */
  private ropeTable(pos0: number, T: number): Float32Array {
    const half = this.config.headDim / 2
    const table = new Float32Array(2 * T * half)
    for (let t = 0; t < T; t++)
      for (let j = 0; j < half; j++) {
        const angle = Math.fround((pos0 + t) * this.invFreq[j])
        table[2 * (t * half + j)] = Math.cos(angle)
        table[2 * (t * half + j) + 1] = Math.sin(angle)
      }
    return table
  }

  /** Free every GPU buffer of the model (states are disposed by their owners). */
  dispose(): void {
    this.metaPrefix?.dispose()
    this.scratch.destroy()
    destroyWeights(this.weights)
    this.slots.arena.destroy()
    for (const b of [this.stepBuffer, ...this.dummies]) b.destroy()
    this.readback?.destroy()
    this.pickReadback?.destroy()
  }
}
