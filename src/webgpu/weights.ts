// Model weights on the GPU: matrices through src/weights.ts loadWeights (the only place that knows
// HF tensor names), every small per-layer vector (norm weights, conv, dt bias, A, D) packed into one
// storage buffer addressed by offsets.
// Must not import: worker/, Node built-ins, src/model.ts.
import type { Kernels } from '../backend.ts'
import type { HymbaConfig, LayerPlan } from '../config.ts'
import { UnsupportedConfig } from '../errors.ts'
import { createReferenceKernels } from '../reference/kernels.ts'
import { loadWeights, type LayerWeights, type WeightReader } from '../weights.ts'
import { storage } from './gpu.ts'
import { destroyMatrix, uploadMatrix, type GpuMatrix } from './matrix.ts'

/** Offsets (in floats) of a layer's vectors in GpuWeights.vectors; -1 where the layer has none. */
export interface LayerVectors {
  readonly inputNorm: number // [H]
  readonly convWeight: number // [E, K]
  readonly convBias: number // [E]
  readonly dtNorm: number // [R]
  readonly bNorm: number // [N]
  readonly cNorm: number // [N]
  readonly dtBias: number // [E]
  readonly A: number // [E, N] = −exp(A_log)
  readonly D: number // [E]
  readonly attnOutNorm: number // [E]
  readonly ssmOutNorm: number // [E]
  readonly mlpNorm: number // [H]
}

export interface GpuLayer {
  readonly plan: LayerPlan
  readonly inProj: GpuMatrix
  readonly xProj: GpuMatrix
  readonly dtProj: GpuMatrix
  readonly outProj: GpuMatrix
  readonly gateProj: GpuMatrix | null
  readonly upProj: GpuMatrix | null
  readonly downProj: GpuMatrix | null
  readonly vectors: LayerVectors
}

export interface GpuWeights {
  readonly embed: GpuMatrix // [V, H]
  readonly lmHead: GpuMatrix // [V, H] (the same as embed when tied)
  readonly metaTokens: Float32Array // [M, H], uploaded per use (the meta prefix is computed once)
  readonly finalNorm: number // offset in vectors
  readonly layers: readonly GpuLayer[]
  readonly vectors: GPUBuffer
}

/** Load, check and upload every tensor; the host copies can be dropped afterwards. With `f16`, f32 matrices are stored as f16 (the f16 path). */
export function uploadWeights(device: GPUDevice, config: HymbaConfig, reader: WeightReader, options: { f16?: boolean } = {}): GpuWeights {
  rejectUnsupported(config)
  let count = 0
  // loadWeights prepares matrices through Kernels.prepareMatrix: here that uploads them.
  const kernels: Kernels = { ...createReferenceKernels(), name: 'webgpu-upload', prepareMatrix: (source) => uploadMatrix(device, `matrix ${count++}`, source, options) }
  const host = loadWeights(config, reader, kernels)
  const parts: Float32Array[] = []
  let length = 0
  const put = (v: Float32Array | null): number => {
    if (!v) return -1
    const offset = length
    parts.push(v)
    length += v.length
    return offset
  }
  const layers = host.layers.map((w: LayerWeights): GpuLayer => ({
    plan: w.plan,
    inProj: w.inProj as GpuMatrix,
    xProj: w.xProj as GpuMatrix,
    dtProj: w.dtProj as GpuMatrix,
    outProj: w.outProj as GpuMatrix,
    gateProj: w.gateProj as GpuMatrix | null,
    upProj: w.upProj as GpuMatrix | null,
    downProj: w.downProj as GpuMatrix | null,
    vectors: {
      inputNorm: put(w.inputNorm),
      convWeight: put(w.convWeight),
      convBias: put(w.convBias),
      dtNorm: put(w.dtNorm),
      bNorm: put(w.bNorm),
      cNorm: put(w.cNorm),
      dtBias: put(w.dtBias),
      A: put(w.A),
      D: put(w.D),
      attnOutNorm: put(w.attnOutNorm),
      ssmOutNorm: put(w.ssmOutNorm),
      mlpNorm: put(w.mlpNorm),
    },
  }))
  const finalNorm = put(host.finalNorm)
  const packed = new Float32Array(length)
  let offset = 0
  for (const p of parts) {
    packed.set(p, offset)
    offset += p.length
  }
  return {
    embed: host.embed as GpuMatrix,
    lmHead: host.lmHead as GpuMatrix,
    metaTokens: host.metaTokens,
    finalNorm,
    layers,
    vectors: storage(device, 'vectors', packed.byteLength, packed),
  }
}

/** Features of the config the WebGPU forward does not implement (none is used by the releases). */
function rejectUnsupported(config: HymbaConfig): void {
  const unsupported = (field: string, detail: string) => {
    throw new UnsupportedConfig(field, `${detail} (the WebGPU backend)`)
  }
  if (config.kqNorm !== 'none') unsupported('kq_norm', `only "none" is supported, got "${config.kqNorm}"`)
  if (config.projBias) unsupported('mamba_proj_bias', 'only false is supported')
  if (config.convKernel > 8) unsupported('mamba_d_conv', `at most 8, got ${config.convKernel}`)
  if (config.ssmStateSize > 64) unsupported('mamba_d_state', `at most 64, got ${config.ssmStateSize}`)
  if (config.headDim > 256 || config.valueHeadDim > 256) unsupported('num_attention_heads', 'head dims above 256')
}

/** Every matrix, once (embed and lm_head are one when tied). */
export function allMatrices(w: GpuWeights): GpuMatrix[] {
  const all = [w.embed, w.lmHead, ...w.layers.flatMap((l) => [l.inProj, l.xProj, l.dtProj, l.outProj, l.gateProj, l.upProj, l.downProj])]
  return [...new Set(all.filter((m): m is GpuMatrix => m !== null))]
}

export function destroyWeights(w: GpuWeights): void {
  for (const m of allMatrices(w)) destroyMatrix(m)
  w.vectors.destroy()
}
