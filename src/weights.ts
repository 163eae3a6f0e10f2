// Model weights: the only module that knows HF tensor names (spec §4). Checks every shape at load
// and hands matrices to the backend once (`Kernels.prepareMatrix`), from one reader or stage by
// stage (a bundle file by file, so the source bytes of one file at a time are held: issue 3).
// Must not import: worker/, Node built-ins, any backend.
import type { Kernels, Matrix, MatrixSource } from './backend.ts'
import type { HymbaConfig, LayerPlan } from './config.ts'
import { inProjSplit } from './config.ts'

/** Where weights come from: an HF checkpoint (TensorStore) or a converted bundle. */
export interface WeightReader {
  has(name: string): boolean
  /** A [rows, cols] matrix, in whatever format the reader holds it. */
  matrix(name: string, rows: number, cols: number): MatrixSource
  /** A dense float32 tensor of the given shape. */
  f32(name: string, shape: readonly number[]): Float32Array
}

/** Some tensors, readable until the next stage is asked for. */
export interface WeightStage {
  readonly names: readonly string[]
  readonly reader: WeightReader
}

/** Weights that arrive in stages (a bundle's data files). */
export interface StagedWeights {
  /** Check that every tensor of `shapes` exists in that shape, then hand each out in exactly one stage. */
  stages(shapes: ReadonlyMap<string, readonly number[]>): AsyncIterable<WeightStage>
}

export interface LayerWeights {
  readonly plan: LayerPlan
  readonly inputNorm: Float32Array // [H]
  readonly inProj: Matrix // [q+k+v+x+z, H]
  readonly inProjBias: Float32Array | null
  readonly qNorm: Float32Array | null // [hd] or [nh·hd] (perhead)
  readonly kNorm: Float32Array | null // [hd] or [nkv·hd]
  readonly convWeight: Float32Array // [E, K]
  readonly convBias: Float32Array | null // [E]
  readonly xProj: Matrix // [R + 2N, E]
  readonly dtNorm: Float32Array | null // [R]
  readonly bNorm: Float32Array | null // [N]
  readonly cNorm: Float32Array | null // [N]
  readonly dtProj: Matrix // [E, R]
  readonly dtBias: Float32Array // [E]
  readonly A: Float32Array // [E, N] = −exp(A_log)
  readonly D: Float32Array // [E]
  readonly attnOutNorm: Float32Array // [E] pre_avg_layernorm1
  readonly ssmOutNorm: Float32Array // [E] pre_avg_layernorm2
  readonly outProj: Matrix // [H, E]
  readonly outProjBias: Float32Array | null
  readonly mlpNorm: Float32Array | null // [H]
  readonly gateProj: Matrix | null // [F, H]
  readonly upProj: Matrix | null // [F, H]
  readonly downProj: Matrix | null // [H, F]
}

export interface ModelWeights {
  readonly embed: Matrix // [V, H]; also the lm_head when tied
  readonly lmHead: Matrix // [V, H]
  readonly metaTokens: Float32Array // [M, H]
  readonly finalNorm: Float32Array // [H]
  readonly layers: readonly LayerWeights[]
}

/** Every tensor name the model reads, with its shape (for converters and checks). */
export function expectedTensors(config: HymbaConfig, reader: Pick<WeightReader, 'has'>): Map<string, number[]> {
  return new Map([...tensorSpecs(config)].map(([name, spec]) => [name, spec.shape]))
}

/** How a tensor is held in backend memory: a prepared matrix, a vector, or A = −exp(A_log) (spec §2.5). */
type TensorKind = 'matrix' | 'vector' | 'negExp'

/** Every tensor the model reads, with its shape and kind, in the order loadWeights prepares them. */
function tensorSpecs(config: HymbaConfig): Map<string, { shape: number[]; kind: TensorKind }> {
  const { hiddenSize: H, innerSize: E, ssmStateSize: N, convKernel: K, dtRank: R, intermediateSize: F } = config
  const specs = new Map<string, { shape: number[]; kind: TensorKind }>()
  const add = (name: string, shape: number[], kind: TensorKind = 'vector') => specs.set(name, { shape, kind })
  add('model.embed_tokens.weight', [config.vocabSize, H], 'matrix')
  // spec §1.2: tied means lm_head ≡ embed_tokens (the file then omits it)
  if (!config.tieWordEmbeddings) add('lm_head.weight', [config.vocabSize, H], 'matrix')
  if (config.numMetaTokens > 0) add('model.memory_tokens', [config.numMetaTokens, H])
  add('model.final_layernorm.weight', [H])
  for (const plan of config.layers) {
    const p = `model.layers.${plan.index}.`
    const m = `${p}mamba.`
    add(`${p}input_layernorm.weight`, [H])
    add(`${m}in_proj.weight`, [inProjSplit(config, plan).total, H], 'matrix')
    if (config.projBias) {
      add(`${m}in_proj.bias`, [inProjSplit(config, plan).total])
      add(`${m}out_proj.bias`, [H])
    }
    if (config.kqNorm === 'rms') {
      add(`${m}self_attn.q_norm.weight`, [config.headDim])
      add(`${m}self_attn.k_norm.weight`, [config.headDim])
    } else if (config.kqNorm === 'perhead-rms') {
      add(`${m}self_attn.q_norm.weight`, [1, config.numHeads, 1, config.headDim])
      if (plan.kv.produce) add(`${m}self_attn.k_norm.weight`, [1, config.numKvHeads, 1, config.headDim])
    }
    add(`${m}conv1d.weight`, [E, 1, K])
    if (config.convBias) add(`${m}conv1d.bias`, [E])
    add(`${m}x_proj.0.weight`, [R + 2 * N, E], 'matrix')
    add(`${m}dt_proj.0.weight`, [E, R], 'matrix')
    add(`${m}dt_proj.0.bias`, [E])
    add(`${m}A_log.0`, [E, N], 'negExp')
    add(`${m}D.0`, [E])
    if (config.innerLayerNorms) {
      add(`${m}dt_layernorm.weight`, [R])
      add(`${m}B_layernorm.weight`, [N])
      add(`${m}C_layernorm.weight`, [N])
    }
    add(`${m}pre_avg_layernorm1.weight`, [E])
    add(`${m}pre_avg_layernorm2.weight`, [E])
    add(`${m}out_proj.weight`, [H, E], 'matrix')
    if (F > 0) {
      add(`${p}pre_moe_layernorm.weight`, [H])
      add(`${p}moe.experts.0.gate_proj.weight`, [F, H], 'matrix')
      add(`${p}moe.experts.0.up_proj.weight`, [F, H], 'matrix')
      add(`${p}moe.experts.0.down_proj.weight`, [H, F], 'matrix')
    }
  }
  return specs
}

type Prepared = Matrix | Float32Array

/** Read, check and prepare every tensor from one reader. */
export function loadWeights(config: HymbaConfig, reader: WeightReader, kernels: Kernels): ModelWeights {
  const specs = tensorSpecs(config)
  const prepared = new Map<string, Prepared>()
  for (const [name, spec] of specs) prepared.set(name, prepare(name, spec, reader, kernels))
  return assemble(config, prepared)
}

/** Read, check and prepare every tensor stage by stage: a stage's source bytes may go once it is prepared. */
export async function loadWeightsStaged(config: HymbaConfig, weights: StagedWeights, kernels: Kernels): Promise<ModelWeights> {
  const specs = tensorSpecs(config)
  const prepared = new Map<string, Prepared>()
  for await (const { names, reader } of weights.stages(new Map([...specs].map(([name, spec]) => [name, spec.shape])))) {
    for (const name of names) prepared.set(name, prepare(name, specs.get(name)!, reader, kernels))
  }
  return assemble(config, prepared)
}

/** One tensor in backend memory: matrices through prepareMatrix, vectors copied in (kernels read them in place). */
function prepare(name: string, spec: { shape: number[]; kind: TensorKind }, reader: WeightReader, kernels: Kernels): Prepared {
  if (spec.kind === 'matrix') return kernels.prepareMatrix(reader.matrix(name, spec.shape[0], spec.shape[1]))
  const data = reader.f32(name, spec.shape)
  const buffer = kernels.alloc(data.length)
  if (spec.kind === 'negExp') for (let i = 0; i < data.length; i++) buffer[i] = -Math.exp(data[i])
  else buffer.set(data)
  return buffer
}

/** The prepared tensors as ModelWeights. */
function assemble(config: HymbaConfig, prepared: ReadonlyMap<string, Prepared>): ModelWeights {
  const get = (name: string): Prepared => {
    const t = prepared.get(name)
    if (!t) throw new Error(`${name} was not prepared`) // a reader handed out fewer tensors than asked
    return t
  }
  const vec = (name: string) => get(name) as Float32Array
  const optVec = (name: string) => (prepared.has(name) ? vec(name) : null)
  const mat = (name: string) => get(name) as Matrix
  const optMat = (name: string) => (prepared.has(name) ? mat(name) : null)

  const embed = mat('model.embed_tokens.weight')
  const layers = config.layers.map((plan): LayerWeights => {
    const p = `model.layers.${plan.index}.`
    const m = `${p}mamba.`
    return {
      plan,
      inputNorm: vec(`${p}input_layernorm.weight`),
      inProj: mat(`${m}in_proj.weight`),
      inProjBias: optVec(`${m}in_proj.bias`),
      qNorm: optVec(`${m}self_attn.q_norm.weight`),
      kNorm: optVec(`${m}self_attn.k_norm.weight`),
      convWeight: vec(`${m}conv1d.weight`), // [E, 1, K] read as [E, K]
      convBias: optVec(`${m}conv1d.bias`),
      xProj: mat(`${m}x_proj.0.weight`),
      dtNorm: optVec(`${m}dt_layernorm.weight`),
      bNorm: optVec(`${m}B_layernorm.weight`),
      cNorm: optVec(`${m}C_layernorm.weight`),
      dtProj: mat(`${m}dt_proj.0.weight`),
      dtBias: vec(`${m}dt_proj.0.bias`),
      A: vec(`${m}A_log.0`), // −exp(A_log), spec §2.5
      D: vec(`${m}D.0`),
      attnOutNorm: vec(`${m}pre_avg_layernorm1.weight`),
      ssmOutNorm: vec(`${m}pre_avg_layernorm2.weight`),
      outProj: mat(`${m}out_proj.weight`),
      outProjBias: optVec(`${m}out_proj.bias`),
      mlpNorm: optVec(`${p}pre_moe_layernorm.weight`),
      gateProj: optMat(`${p}moe.experts.0.gate_proj.weight`),
      upProj: optMat(`${p}moe.experts.0.up_proj.weight`),
      downProj: optMat(`${p}moe.experts.0.down_proj.weight`),
    }
  })
  return {
    embed,
    lmHead: prepared.has('lm_head.weight') ? mat('lm_head.weight') : embed,
    metaTokens: config.numMetaTokens > 0 ? vec('model.memory_tokens') : new Float32Array(0),
    finalNorm: vec('model.final_layernorm.weight'),
    layers,
  }
}
