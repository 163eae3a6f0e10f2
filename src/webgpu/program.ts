// The forward pass as a list of GPU dispatches (spec §2.2–2.6), built once per (state, scratch
// generation): every bind group is created here, never per token. A step then only writes its
// uniform block, the RoPE table and (unless the GPU chained them) the token ids, and records the
// dispatches; top_k picks the next tokens on the GPU when only those come back.
// Must not import: worker/, Node built-ins, src/model.ts.
import type { HymbaConfig } from '../config.ts'
import { inProjSplit } from '../config.ts'
import { attentionSpan } from '../window.ts'
import { ParamArena, storage } from './gpu.ts'
import { matrixKernelNames, type KernelName, type KernelSet, type Resource } from './kernels.ts'
import { gatherParams, matmulParams, matrixGrid, weightResources, type GpuMatrix, type MatmulLayout } from './matrix.ts'
import type { WebGpuState } from './state.ts'
import type { GpuWeights } from './weights.ts'

/** One recorded dispatch; T = rows of the step, R = logit rows. */
export type Op = (pass: GPUComputePassEncoder, T: number, R: number) => void

const NO_LIMIT = 0xffffffff

/** Activation buffers for up to `capacity` rows per step, shared by every state of a model. */
export class Scratch {
  capacity = 0
  /** Bumped when the buffers are replaced: programs built on older ones are stale. */
  generation = 0
  buffers: Record<'x' | 'h' | 'proj' | 'q' | 'u' | 'z' | 'attn' | 'xc' | 'xRaw' | 'bc' | 'dt' | 'y' | 'gate' | 'up' | 'ids' | 'rope', GPUBuffer> | null = null
  stepKeys = new Map<number, GPUBuffer>() // per producer layer: [T, nkv·hd]
  stepValues = new Map<number, GPUBuffer>() // [T, nkv·vd]
  logits: GPUBuffer | null = null // [R, V]
  logitRows = 0
  picks: GPUBuffer | null = null // top_k records (kernels/wgsl/top_k.wgsl)
  pickWords = 0

  constructor(
    private readonly device: GPUDevice,
    private readonly config: HymbaConfig,
  ) {}

  /** Room for T step rows and R logit rows (doubling, so growth is rare). */
  ensure(T: number, R: number): void {
    const c = this.config
    if (T > this.capacity) {
      const cap = Math.max(T, 2 * this.capacity, 16)
      this.destroyActivations()
      const { hiddenSize: H, innerSize: E, intermediateSize: F, ssmStateSize: N, dtRank: R2 } = c
      const maxTotal = Math.max(...c.layers.map((plan) => inProjSplit(c, plan).total))
      const f32 = (label: string, width: number) => storage(this.device, label, 4 * cap * Math.max(1, width))
      this.buffers = {
        x: f32('x', H),
        h: f32('h', H),
        proj: f32('proj', maxTotal),
        q: f32('q', H),
        u: f32('u', E),
        z: f32('z', E),
        attn: f32('attn', E),
        xc: f32('xc', E),
        xRaw: f32('xRaw', R2 + 2 * N),
        bc: f32('bc', R2 + 2 * N),
        dt: f32('dt', E),
        y: f32('y', E),
        gate: f32('gate', F),
        up: f32('up', F),
        ids: f32('ids', 1),
        rope: f32('rope', c.headDim),
      }
      for (const plan of c.layers)
        if (plan.kv.produce) {
          this.stepKeys.set(plan.index, f32(`step keys ${plan.index}`, c.numKvHeads * c.headDim))
          this.stepValues.set(plan.index, f32(`step values ${plan.index}`, c.numKvHeads * c.valueHeadDim))
        }
      this.capacity = cap
      this.generation++
    }
    if (R > this.logitRows) {
      this.logits?.destroy()
      this.logitRows = Math.max(R, 2 * this.logitRows, 1)
      this.logits = storage(this.device, 'logits', 4 * this.logitRows * c.vocabSize)
      this.generation++
    }
  }

  /** Room for `words` u32 of top_k records. */
  ensurePicks(words: number): void {
    if (words <= this.pickWords) return
    this.picks?.destroy()
    this.pickWords = Math.max(words, 2 * this.pickWords, 64)
    this.picks = storage(this.device, 'picks', 4 * this.pickWords)
    this.generation++
  }

  private destroyActivations(): void {
    if (this.buffers) for (const b of Object.values(this.buffers)) b.destroy()
    for (const b of [...this.stepKeys.values(), ...this.stepValues.values()]) b.destroy()
    this.stepKeys.clear()
    this.stepValues.clear()
  }

  destroy(): void {
    this.destroyActivations()
    this.logits?.destroy()
    this.picks?.destroy()
  }
}

/** The per-step uniforms, slots of one buffer written once per step: kernels/wgsl/common.wgsl Step
 * for the layers, the final norm and the lm_head rows, and top_k's PickParams. */
export interface Steps {
  readonly layer: GPUBufferBinding
  readonly head: GPUBufferBinding
  readonly logits: GPUBufferBinding
  readonly pick: GPUBufferBinding
}

/** Parameter slots of every dispatch, computed once per model. */
interface LayerSlots {
  inputNorm: number
  inProj: number
  split: number
  attention: number
  conv: number
  xProj: number
  dtNorm: number
  bNorm: number
  cNorm: number
  dtProj: number
  scan: number
  fuse: number
  outProj: number
  mlpNorm: number
  gateProj: number
  upProj: number
  gate: number
  downProj: number
  store: number
}

export interface ParamSlots {
  readonly arena: ParamArena
  readonly embed: number
  readonly finalNorm: number
  readonly lmHead: number
  readonly layers: readonly LayerSlots[]
}

/** Every dispatch's parameters (shapes, offsets, window rules) into one uniform arena. */
export function planParams(device: GPUDevice, config: HymbaConfig, weights: GpuWeights): ParamSlots {
  const c = config
  const { hiddenSize: H, innerSize: E, ssmStateSize: N, dtRank: R, intermediateSize: F, numMetaTokens: M, slidingWindow: W } = c
  const arena = new ParamArena(device, 'params')
  const eps = c.rmsNormEps
  const norm = (dim: number, weight: number, inStride = dim, inOffset = 0) => arena.add({ u32: [dim, inStride, inOffset, inStride, inOffset, weight], f32: [eps] })
  const matmul = (m: GpuMatrix | null, layout: MatmulLayout) => (m ? arena.add(matmulParams(m, layout)) : -1)
  const span = (window: 'global' | 'sliding', rule: 'prefill' | 'decode') => {
    const s = attentionSpan(window, W, rule)
    return s === Infinity ? NO_LIMIT : s
  }
  const finite = (w: number) => (Number.isFinite(w) ? w : 0)
  const layers = weights.layers.map((l): LayerSlots => {
    const plan = l.plan
    const split = inProjSplit(c, plan)
    const producer = c.layers[plan.kv.produce ? plan.index : plan.kv.borrowFrom]
    const v = l.vectors
    const bcWidth = R + 2 * N
    return {
      inputNorm: norm(H, v.inputNorm),
      inProj: matmul(l.inProj, { xStride: H }),
      split: arena.add({ u32: [split.q, split.k, split.v, E, c.headDim, c.rope ? 1 : 0] }),
      attention: arena.add({
        u32: [c.numHeads, c.numKvHeads, c.headDim, c.valueHeadDim, M, finite(W), producer.window === 'sliding' ? 1 : 0, span(plan.window, 'prefill'), span(producer.window, 'decode')],
        f32: [1 / Math.sqrt(c.headDim)],
      }),
      conv: arena.add({ u32: [E, c.convKernel, v.convWeight, Math.max(0, v.convBias), v.convBias >= 0 ? 1 : 0] }),
      xProj: matmul(l.xProj, { xStride: E }),
      dtNorm: v.dtNorm >= 0 ? norm(R, v.dtNorm, bcWidth, 0) : -1,
      bNorm: v.bNorm >= 0 ? norm(N, v.bNorm, bcWidth, R) : -1,
      cNorm: v.cNorm >= 0 ? norm(N, v.cNorm, bcWidth, R + N) : -1,
      dtProj: matmul(l.dtProj, { xStride: bcWidth }),
      scan: arena.add({ u32: [E, N, bcWidth, R, R + N, v.dtBias, v.A, v.D] }),
      fuse: arena.add({ u32: [E, v.attnOutNorm, v.ssmOutNorm], f32: [eps] }),
      outProj: matmul(l.outProj, { xStride: E, accumulate: true }),
      mlpNorm: v.mlpNorm >= 0 ? norm(H, v.mlpNorm) : -1,
      gateProj: matmul(l.gateProj, { xStride: H }),
      upProj: matmul(l.upProj, { xStride: H }),
      gate: arena.add({ u32: [F, c.mlpAct === 'relu2' ? 1 : 0] }),
      downProj: matmul(l.downProj, { xStride: F, accumulate: true }),
      store: arena.add({ u32: [c.numKvHeads * c.headDim, c.numKvHeads * c.valueHeadDim, M, finite(W), plan.window === 'sliding' ? 1 : 0] }),
    }
  })
  const slots = {
    arena,
    embed: arena.add(gatherParams(weights.embed)),
    finalNorm: norm(H, weights.finalNorm),
    lmHead: matmul(weights.lmHead, { xStride: H }),
    layers,
  }
  arena.finish()
  return slots
}

export interface Program {
  readonly embed: Op // ids → x
  readonly layers: readonly Op[] // every decoder layer
  readonly store: readonly Op[] // the step's K/V into the producers' caches
  readonly head: readonly Op[] // final norm and lm_head
  readonly pick: Op // top_k over a logits row → picks (and ids, when chained)
}

const rowsGrid = (n: number): [number, number, number] => (n > 65535 ? [65535, Math.ceil(n / 65535), 1] : [n, 1, 1])

/** Bind every dispatch of a forward step for `state` over the scratch buffers. */
export function buildProgram(
  config: HymbaConfig,
  weights: GpuWeights,
  kernels: KernelSet,
  slots: ParamSlots,
  scratch: Scratch,
  steps: Steps,
  state: WebGpuState,
  dummies: readonly [GPUBuffer, GPUBuffer],
): Program {
  const c = config
  const b = scratch.buffers!
  const { hiddenSize: H, innerSize: E, intermediateSize: F } = c
  const param = (slot: number) => slots.arena.binding(slot)
  type Grid = (T: number, R: number) => [number, number, number]
  // The bind group is made here, once; the kernel may depend on the row count (matvec for one row).
  const bound = (name: KernelName | ((T: number, R: number) => KernelName), resources: Resource[], grid: Grid): Op => {
    const pick = typeof name === 'function' ? name : () => name
    const group = kernels.bind(pick(1, 1), resources)
    return (pass, T, R) => {
      const [x, y, z] = grid(T, R)
      if (x * y * z === 0) return
      pass.setPipeline(kernels.get(pick(T, R)).pipeline)
      pass.setBindGroup(0, group)
      pass.dispatchWorkgroups(x, y, z)
    }
  }
  const matrix = (m: GpuMatrix, slot: number, step: Resource, x: GPUBuffer, out: GPUBuffer, rows: 'T' | 'R' = 'T'): Op => {
    const names = matrixKernelNames(m.layout)
    const count = (T: number, R: number) => (rows === 'T' ? T : R)
    return bound((T, R) => (count(T, R) === 1 ? names.matvec : names.matmul), [param(slot), step, x, out, ...weightResources(m)], (T, R) => matrixGrid(m.rows, count(T, R)))
  }
  const norm = (slot: number, step: Resource, x: GPUBuffer, out: GPUBuffer, rows: 'T' | 'R' = 'T') =>
    bound('rmsnorm_f32', [param(slot), step, x, out, weights.vectors], (T, R) => rowsGrid(rows === 'T' ? T : R))
  const perColumn = (width: number) => (T: number): [number, number, number] => [Math.ceil(width / 64), T, 1]
  const perChannel = (): [number, number, number] => [Math.ceil(E / 64), 1, 1]

  const layers: Op[] = []
  const store: Op[] = []
  weights.layers.forEach((l, i) => {
    const s = slots.layers[i]
    const plan = l.plan
    const producer = plan.kv.produce ? plan.index : plan.kv.borrowFrom
    const cache = state.layers[producer].kv!
    const stepKeys = scratch.stepKeys.get(producer)!
    const stepValues = scratch.stepValues.get(producer)!
    const split = inProjSplit(c, plan)
    const bc = l.vectors.dtNorm >= 0 ? b.bc : b.xRaw
    const ops: Op[] = [
      norm(s.inputNorm, steps.layer, b.x, b.h),
      matrix(l.inProj, s.inProj, steps.layer, b.h, b.proj),
      bound('split_rope_f32', [param(s.split), steps.layer, b.proj, b.rope, b.q, b.u, b.z, plan.kv.produce ? stepKeys : dummies[0], plan.kv.produce ? stepValues : dummies[1]], perColumn(split.total)),
      bound('attention_f32', [param(s.attention), steps.layer, b.q, cache.keys, cache.values, cache.positions, stepKeys, stepValues, b.attn], (T) => [c.numHeads, T, 1]),
      bound('causal_conv_f32', [param(s.conv), steps.layer, b.u, weights.vectors, state.layers[i].conv, b.xc], perChannel),
      matrix(l.xProj, s.xProj, steps.layer, b.xc, b.xRaw),
    ]
    for (const slot of [s.dtNorm, s.bNorm, s.cNorm]) if (slot >= 0) ops.push(norm(slot, steps.layer, b.xRaw, b.bc))
    ops.push(
      matrix(l.dtProj, s.dtProj, steps.layer, bc, b.dt),
      bound('ssm_scan_f32', [param(s.scan), steps.layer, b.xc, b.dt, bc, b.z, weights.vectors, state.layers[i].ssm, b.y], perChannel),
      bound('norm_mean_f32', [param(s.fuse), steps.layer, b.y, b.attn, weights.vectors], (T) => rowsGrid(T)),
      matrix(l.outProj, s.outProj, steps.layer, b.attn, b.x),
    )
    if (l.upProj && l.downProj && s.mlpNorm >= 0) {
      ops.push(norm(s.mlpNorm, steps.layer, b.x, b.h), matrix(l.upProj, s.upProj, steps.layer, b.h, b.up))
      if (l.gateProj) ops.push(matrix(l.gateProj, s.gateProj, steps.layer, b.h, b.gate))
      ops.push(bound('gate_f32', [param(s.gate), steps.layer, b.gate, b.up], perColumn(F)), matrix(l.downProj, s.downProj, steps.layer, b.up, b.x))
    }
    layers.push(...ops)
    if (plan.kv.produce) {
      const width = Math.max(c.numKvHeads * c.headDim, c.numKvHeads * c.valueHeadDim) + 1
      store.push(bound('kv_store_f32', [param(s.store), steps.layer, stepKeys, stepValues, cache.keys, cache.values, cache.positions], perColumn(width)))
    }
  })
  const embedNames = matrixKernelNames(weights.embed.layout)
  return {
    embed: bound(embedNames.gather, [param(slots.embed), steps.layer, b.ids, b.x, ...weightResources(weights.embed)], perColumn(weights.embed.quads)),
    layers,
    store,
    head: [norm(slots.finalNorm, steps.head, b.x, b.h, 'R'), matrix(weights.lmHead, slots.lmHead, steps.logits, b.h, scratch.logits!, 'R')],
    pick: bound('top_k_f32', [steps.pick, steps.logits, scratch.logits!, scratch.picks!, b.ids], () => [1, 1, 1]),
  }
}
