// The Hymba forward pass on WebGPU with weights and per-sequence state resident on the GPU: the
// semantics of src/model.ts HymbaModel (prefill / append / decode, the meta prefix computed once,
// the two window rules), asynchronous because only the logits are read back per step.
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
import { destroyWeights, uploadWeights, type GpuWeights } from './weights.ts'

export interface WebGpuModelOptions {
  /** Reads kernels/wgsl/<file>. */
  readonly shaders: ShaderSource
  /** A device to use (default: requestGpu()). */
  readonly gpu?: Gpu
}

export interface WebGpuForwardOptions {
  /** Logits for every input row ([T, V]) instead of the last one only ([V]). */
  readonly allLogits?: boolean
}

type Input = { readonly ids: readonly number[] } | { readonly rows: Float32Array; readonly count: number }

export class WebGpuModel {
  private readonly device: GPUDevice
  private readonly invFreq: Float32Array // [hd/2]
  private readonly scratch: Scratch
  private readonly steps: Steps
  private readonly dummies: [GPUBuffer, GPUBuffer]
  private readonly programs = new WeakMap<WebGpuState, { generation: number; revision: number; program: Program }>()
  private readback: GPUBuffer | null = null
  private queue: Promise<unknown> = Promise.resolve()
  private metaPrefix: WebGpuState | null = null

  private constructor(
    readonly config: HymbaConfig,
    readonly gpu: Gpu,
    private readonly weights: GpuWeights,
    private readonly kernels: KernelSet,
    private readonly slots: ParamSlots,
  ) {
    this.device = gpu.device
    this.invFreq = ropeInverseFrequencies(config.ropeBase, config.headDim)
    this.scratch = new Scratch(this.device, config)
    const uniform = (label: string) => this.device.createBuffer({ label, size: 16, usage: Usage.UNIFORM | Usage.COPY_DST })
    this.steps = { layer: uniform('step'), head: uniform('head step'), logits: uniform('logit step') }
    this.dummies = [storage(this.device, 'no keys', 16), storage(this.device, 'no values', 16)]
  }

  /** Upload the weights, compile the kernels they need and compute the meta-token prefix. */
  static async create(config: HymbaConfig, reader: WeightReader, options: WebGpuModelOptions): Promise<WebGpuModel> {
    const gpu = options.gpu ?? (await requestGpu())
    const weights = uploadWeights(gpu.device, config, reader)
    const formats = new Set([weights.embed, weights.lmHead, ...weights.layers.flatMap((l) => [l.inProj, l.xProj, l.dtProj, l.outProj, l.gateProj, l.upProj, l.downProj])].flatMap((m) => (m ? [m.format] : [])))
    const names: KernelName[] = ['rmsnorm_f32', 'norm_mean_f32', 'split_rope_f32', 'attention_f32', 'kv_store_f32', 'causal_conv_f32', 'ssm_scan_f32', 'gate_f32']
    for (const format of formats) names.push(...Object.values(matrixKernelNames(format)))
    const kernels = await KernelSet.compile(gpu.device, options.shaders, names)
    const model = new WebGpuModel(config, gpu, weights, kernels, planParams(gpu.device, config, weights))
    await model.computeMetaPrefix()
    return model
  }

  /** An HF checkpoint folder (config.json + safetensors), every matrix f32. */
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
    if (M > 0) await this.run(state, { rows: this.weights.metaTokens, count: M }, 0, 'prefill', 0)
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

  private forward(state: WebGpuState, ids: readonly number[], rule: WindowRule, options: WebGpuForwardOptions): Promise<Float32Array> {
    state.assertLive()
    if (ids.length === 0) throw new InvalidInput('no tokens given')
    for (const id of ids)
      if (!Number.isInteger(id) || id < 0 || id >= this.config.vocabSize) throw new InvalidInput(`token id ${id} is outside the vocabulary [0, ${this.config.vocabSize})`)
    const pos0 = state.nextPosition
    state.textTokens += ids.length
    return this.run(state, { ids }, pos0, rule, options.allLogits ? ids.length : 1) as Promise<Float32Array>
  }

  /** One step, serialised with every other (the scratch buffers are shared). */
  private run(state: WebGpuState, input: Input, pos0: number, rule: WindowRule, logitRows: number): Promise<Float32Array | null> {
    const result = this.queue.then(() => this.step(state, input, pos0, rule, logitRows))
    this.queue = result.catch(() => undefined)
    return result
  }

  private async step(state: WebGpuState, input: Input, pos0: number, rule: WindowRule, R: number): Promise<Float32Array | null> {
    const c = this.config
    const T = 'ids' in input ? input.ids.length : input.count
    this.scratch.ensure(T, Math.max(R, 1))
    state.reserve(pos0 + T)
    const program = this.programFor(state)
    const b = this.scratch.buffers!
    const queue = this.device.queue
    const ruleCode = rule === 'prefill' ? 0 : 1
    queue.writeBuffer(this.steps.layer, 0, new Uint32Array([T, 0, pos0, ruleCode]))
    queue.writeBuffer(this.steps.head, 0, new Uint32Array([R, T - R, pos0, ruleCode]))
    queue.writeBuffer(this.steps.logits, 0, new Uint32Array([R, 0, pos0, ruleCode]))
    queue.writeBuffer(b.rope, 0, this.ropeTable(pos0, T))
    if ('ids' in input) queue.writeBuffer(b.ids, 0, new Uint32Array(input.ids))
    else queue.writeBuffer(b.x, 0, input.rows)

    const encoder = this.device.createCommandEncoder()
    const pass = encoder.beginComputePass()
    if ('ids' in input) program.embed(pass, T, R)
    for (const op of program.layers) op(pass, T, R)
    for (const op of program.store) op(pass, T, R)
    if (R > 0) for (const op of program.head) op(pass, T, R)
    pass.end()
    if (R === 0) {
      queue.submit([encoder.finish()])
      return null
    }
    const bytes = 4 * R * c.vocabSize
    if (!this.readback || this.readback.size < bytes) {
      this.readback?.destroy()
      this.readback = this.device.createBuffer({ label: 'logits readback', size: bytes, usage: Usage.MAP_READ | Usage.COPY_DST })
    }
    encoder.copyBufferToBuffer(this.scratch.logits!, 0, this.readback, 0, bytes)
    queue.submit([encoder.finish()])
    await this.readback.mapAsync(MAP_READ, 0, bytes)
    const logits = new Float32Array(this.readback.getMappedRange(0, bytes).slice(0))
    this.readback.unmap()
    return logits
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
    for (const b of [this.steps.layer, this.steps.head, this.steps.logits, ...this.dummies]) b.destroy()
    this.readback?.destroy()
  }
}
