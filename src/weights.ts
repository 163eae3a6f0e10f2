// Model weights: the only module that knows HF tensor names (spec §4). Checks every shape at load
// and hands matrices to the backend once (`Kernels.prepareMatrix`).
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
  const { hiddenSize: H, innerSize: E, ssmStateSize: N, convKernel: K, dtRank: R, intermediateSize: F } = config
  const shapes = new Map<string, number[]>()
  shapes.set('model.embed_tokens.weight', [config.vocabSize, H])
  // spec §1.2: tied means lm_head ≡ embed_tokens (the file then omits it)
  if (!config.tieWordEmbeddings) shapes.set('lm_head.weight', [config.vocabSize, H])
  if (config.numMetaTokens > 0) shapes.set('model.memory_tokens', [config.numMetaTokens, H])
  shapes.set('model.final_layernorm.weight', [H])
  for (const plan of config.layers) {
    const p = `model.layers.${plan.index}.`
    const m = `${p}mamba.`
    shapes.set(`${p}input_layernorm.weight`, [H])
    shapes.set(`${m}in_proj.weight`, [inProjSplit(config, plan).total, H])
    if (config.projBias) {
      shapes.set(`${m}in_proj.bias`, [inProjSplit(config, plan).total])
      shapes.set(`${m}out_proj.bias`, [H])
    }
    if (config.kqNorm === 'rms') {
      shapes.set(`${m}self_attn.q_norm.weight`, [config.headDim])
      shapes.set(`${m}self_attn.k_norm.weight`, [config.headDim])
    } else if (config.kqNorm === 'perhead-rms') {
      shapes.set(`${m}self_attn.q_norm.weight`, [1, config.numHeads, 1, config.headDim])
      if (plan.kv.produce) shapes.set(`${m}self_attn.k_norm.weight`, [1, config.numKvHeads, 1, config.headDim])
    }
    shapes.set(`${m}conv1d.weight`, [E, 1, K])
    if (config.convBias) shapes.set(`${m}conv1d.bias`, [E])
    shapes.set(`${m}x_proj.0.weight`, [R + 2 * N, E])
    shapes.set(`${m}dt_proj.0.weight`, [E, R])
    shapes.set(`${m}dt_proj.0.bias`, [E])
    shapes.set(`${m}A_log.0`, [E, N])
    shapes.set(`${m}D.0`, [E])
    if (config.innerLayerNorms) {
      shapes.set(`${m}dt_layernorm.weight`, [R])
      shapes.set(`${m}B_layernorm.weight`, [N])
      shapes.set(`${m}C_layernorm.weight`, [N])
    }
    shapes.set(`${m}pre_avg_layernorm1.weight`, [E])
    shapes.set(`${m}pre_avg_layernorm2.weight`, [E])
    shapes.set(`${m}out_proj.weight`, [H, E])
    if (F > 0) {
      shapes.set(`${p}pre_moe_layernorm.weight`, [H])
      shapes.set(`${p}moe.experts.0.gate_proj.weight`, [F, H])
      shapes.set(`${p}moe.experts.0.up_proj.weight`, [F, H])
      shapes.set(`${p}moe.experts.0.down_proj.weight`, [H, F])
    }
  }
  return shapes
}

/** Read and check every tensor, prepare matrices on the backend. */
export function loadWeights(config: HymbaConfig, reader: WeightReader, kernels: Kernels): ModelWeights {
  const shapes = expectedTensors(config, reader)
  const shape = (name: string): number[] => shapes.get(name)!
  // vectors live in backend memory too, so kernels read them in place
  const resident = (data: Float32Array) => {
    const buffer = kernels.alloc(data.length)
    buffer.set(data)
    return buffer
  }
  const vec = (name: string) => resident(reader.f32(name, shape(name)))
  const optVec = (name: string) => (shapes.has(name) ? vec(name) : null)
  const mat = (name: string) => {
    const [rows, cols] = shape(name)
    return kernels.prepareMatrix(reader.matrix(name, rows, cols))
  }
  const optMat = (name: string) => (shapes.has(name) ? mat(name) : null)

  const embed = mat('model.embed_tokens.weight')
  const layers = config.layers.map((plan): LayerWeights => {
    const p = `model.layers.${plan.index}.`
    const m = `${p}mamba.`
    const negExpA = resident(reader.f32(`${m}A_log.0`, shape(`${m}A_log.0`)).map((a) => -Math.exp(a))) // spec §2.5: A = −exp(A_log)
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
      A: negExpA,
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
    lmHead: shapes.has('lm_head.weight') ? mat('lm_head.weight') : embed,
    metaTokens: config.numMetaTokens > 0 ? vec('model.memory_tokens') : new Float32Array(0),
    finalNorm: vec('model.final_layernorm.weight'),
    layers,
  }
}
