// Hymba configuration: reads an HF `config.json` with the reference defaults (spec §1.2) and
// derives the per-layer plan (attention window, KV producer/consumer) once, as data.
// Must not import: worker/, Node built-ins, any backend.
import { UnsupportedConfig } from './errors.ts'

export type WeightDtype = 'float32' | 'bfloat16' | 'float16'

/** What one decoder layer does; nothing else in the core branches on layer indices. */
export interface LayerPlan {
  readonly index: number
  /** 'global': full causal attention; 'sliding': window of W text tokens (spec §3.2). */
  readonly window: 'global' | 'sliding'
  /** A producer computes and caches K/V; a consumer reads its producer's (spec §3.3). */
  readonly kv: { readonly produce: true } | { readonly produce: false; readonly borrowFrom: number }
}

export interface HymbaConfig {
  readonly vocabSize: number // V
  readonly hiddenSize: number // H
  readonly intermediateSize: number // F (MLP); 0 = no MLP
  readonly numLayers: number
  readonly numHeads: number // nh
  readonly numKvHeads: number // nkv
  readonly headDim: number // hd = H / nh (q, k)
  readonly valueHeadDim: number // vd = E / nh
  readonly kqNorm: 'none' | 'rms' | 'perhead-rms'
  readonly rope: boolean
  readonly ropeBase: number // θ, NTK-scaled where rope_type is "ntk" (spec §2.4)
  readonly slidingWindow: number // W (Infinity when no layer slides)
  readonly numMetaTokens: number // M
  readonly ssmStateSize: number // N
  readonly convKernel: number // K
  readonly innerSize: number // E = expand · H
  readonly dtRank: number // R
  readonly convBias: boolean
  readonly projBias: boolean
  readonly innerLayerNorms: boolean
  readonly mlpAct: 'silu' | 'relu2'
  readonly rmsNormEps: number
  readonly tieWordEmbeddings: boolean
  readonly bosTokenId: number
  readonly eosTokenId: number
  readonly padTokenId: number
  readonly dtype: WeightDtype
  readonly layers: readonly LayerPlan[]
}

type Json = Record<string, unknown>

/** Parse an HF config.json object; every missing key takes the HymbaConfig.__init__ default (spec §1.2). */
export function parseConfig(raw: Json): HymbaConfig {
  const get = <T>(key: string, fallback: T): T => (raw[key] === undefined || raw[key] === null ? fallback : (raw[key] as T))
  const int = (key: string, fallback: number): number => {
    const v = get<unknown>(key, fallback)
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new UnsupportedConfig(key, `expected an integer, got ${JSON.stringify(v)}`)
    return v
  }
  const positive = (key: string, fallback: number): number => {
    const v = int(key, fallback)
    if (v <= 0) throw new UnsupportedConfig(key, `must be > 0, got ${v}`)
    return v
  }
  const bool = (key: string, fallback: boolean): boolean => {
    const v = get<unknown>(key, fallback)
    if (typeof v !== 'boolean') throw new UnsupportedConfig(key, `expected a boolean, got ${JSON.stringify(v)}`)
    return v
  }

  const modelType = get<unknown>('model_type', 'hymba')
  if (modelType !== 'hymba') throw new UnsupportedConfig('model_type', `expected "hymba", got ${JSON.stringify(modelType)}`)

  const vocabSize = positive('vocab_size', 65536)
  const hiddenSize = positive('hidden_size', 4096)
  const intermediateSize = int('intermediate_size', 14336)
  if (intermediateSize < 0) throw new UnsupportedConfig('intermediate_size', `must be ≥ 0, got ${intermediateSize}`)
  const numLayers = positive('num_hidden_layers', 32)
  const numHeads = positive('num_attention_heads', 32)
  const numKvHeads = positive('num_key_value_heads', 8)
  if (numHeads % numKvHeads !== 0) throw new UnsupportedConfig('num_key_value_heads', `${numKvHeads} does not divide num_attention_heads ${numHeads}`)
  if (hiddenSize % numHeads !== 0) throw new UnsupportedConfig('num_attention_heads', `${numHeads} does not divide hidden_size ${hiddenSize}`)
  const headDim = hiddenSize / numHeads

  // spec §1.2: HymbaBlock sizes the in_proj split with H, so only −1 (or H itself) is consistent.
  const attnHidden = int('attn_hidden_size', -1)
  if (attnHidden > 0 && attnHidden !== hiddenSize) throw new UnsupportedConfig('attn_hidden_size', `only -1 is supported, got ${attnHidden}`)
  const kqHeadDim = int('kq_head_dim', -1)
  if (kqHeadDim > 0 && kqHeadDim !== headDim) throw new UnsupportedConfig('kq_head_dim', `only -1 is supported, got ${kqHeadDim}`)

  const kqNorm = get<unknown>('kq_norm', undefined)
  if (kqNorm !== 'none' && kqNorm !== 'rms' && kqNorm !== 'perhead-rms')
    throw new UnsupportedConfig('kq_norm', `expected "none", "rms" or "perhead-rms", got ${JSON.stringify(kqNorm)}`)

  const rope = bool('rope', false)
  const ropeBase = ropeBaseOf(raw, headDim)

  const expand = get<unknown>('mamba_expand', 2)
  if (typeof expand !== 'number' || !Number.isInteger(expand) || expand <= 0) throw new UnsupportedConfig('mamba_expand', `expected a positive integer, got ${JSON.stringify(expand)}`)
  const innerSize = expand * hiddenSize
  if (innerSize % numHeads !== 0) throw new UnsupportedConfig('mamba_expand', `E = ${innerSize} is not divisible by num_attention_heads ${numHeads}`)
  const dtRankRaw = get<unknown>('mamba_dt_rank', 'auto')
  const dtRank = dtRankRaw === 'auto' ? Math.ceil(hiddenSize / 16) : dtRankRaw
  if (typeof dtRank !== 'number' || !Number.isInteger(dtRank) || dtRank <= 0) throw new UnsupportedConfig('mamba_dt_rank', `expected "auto" or a positive integer, got ${JSON.stringify(dtRankRaw)}`)

  const hiddenAct = get<unknown>('hidden_act', 'silu')
  if (hiddenAct !== 'silu') throw new UnsupportedConfig('hidden_act', `only "silu" is supported, got ${JSON.stringify(hiddenAct)}`)
  const mlpAct = get<unknown>('mlp_hidden_act', 'silu')
  if (mlpAct !== 'silu' && mlpAct !== 'relu2') throw new UnsupportedConfig('mlp_hidden_act', `expected "silu" or "relu2", got ${JSON.stringify(mlpAct)}`)

  const attnImpl = get<unknown>('attn_implementation_new', 'flex')
  if (attnImpl !== 'flex') throw new UnsupportedConfig('attn_implementation_new', `only "flex" reproduces the release semantics (spec §1.2), got ${JSON.stringify(attnImpl)}`)
  const interspersed = int('memory_tokens_interspersed_every', 0)
  if (interspersed !== 0) throw new UnsupportedConfig('memory_tokens_interspersed_every', `only 0 is supported, got ${interspersed}`)
  const numMetaTokens = int('num_memory_tokens', 0)
  if (numMetaTokens < 0) throw new UnsupportedConfig('num_memory_tokens', `must be ≥ 0, got ${numMetaTokens}`)

  const dtypeRaw = get<unknown>('dtype', get<unknown>('torch_dtype', 'float32'))
  if (dtypeRaw !== 'float32' && dtypeRaw !== 'bfloat16' && dtypeRaw !== 'float16')
    throw new UnsupportedConfig(raw['dtype'] !== undefined ? 'dtype' : 'torch_dtype', `expected float32, bfloat16 or float16, got ${JSON.stringify(dtypeRaw)}`)

  const slidingRaw = get<unknown>('sliding_window', null)
  if (slidingRaw !== null && (typeof slidingRaw !== 'number' || !Number.isInteger(slidingRaw) || slidingRaw <= 0))
    throw new UnsupportedConfig('sliding_window', `expected a positive integer or null, got ${JSON.stringify(slidingRaw)}`)

  const layers = planLayers(raw, numLayers, slidingRaw !== null)

  return {
    vocabSize,
    hiddenSize,
    intermediateSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    valueHeadDim: innerSize / numHeads,
    kqNorm,
    rope,
    ropeBase,
    slidingWindow: slidingRaw === null ? Infinity : (slidingRaw as number),
    numMetaTokens,
    ssmStateSize: positive('mamba_d_state', 16),
    convKernel: positive('mamba_d_conv', 4),
    innerSize,
    dtRank,
    convBias: bool('mamba_conv_bias', true),
    projBias: bool('mamba_proj_bias', false),
    innerLayerNorms: bool('mamba_inner_layernorms', true),
    mlpAct,
    rmsNormEps: get<number>('rms_norm_eps', 1e-6),
    tieWordEmbeddings: bool('tie_word_embeddings', false),
    bosTokenId: int('bos_token_id', 1),
    eosTokenId: int('eos_token_id', 2),
    padTokenId: int('pad_token_id', 0),
    dtype: dtypeRaw,
    layers,
  }
}

/** RoPE base (spec §2.4): θ, or the static NTK-scaled θ·(2·max/orig − 1)^(hd/(hd−2)). */
function ropeBaseOf(raw: Json, headDim: number): number {
  const theta = raw['rope_theta'] ?? 10000
  if (typeof theta !== 'number' || !(theta > 0)) throw new UnsupportedConfig('rope_theta', `expected a positive number, got ${JSON.stringify(theta)}`)
  const type = raw['rope_type'] ?? null
  if (type === null || type === 'default') return theta
  if (type !== 'ntk') throw new UnsupportedConfig('rope_type', `expected null, "default" or "ntk", got ${JSON.stringify(type)}`)
  const maxPos = raw['max_position_embeddings'] ?? 262144
  const origMax = raw['orig_max_position_embeddings']
  if (typeof origMax !== 'number' || !(origMax > 0)) throw new UnsupportedConfig('orig_max_position_embeddings', `rope_type "ntk" needs a positive number, got ${JSON.stringify(origMax)}`)
  if (typeof maxPos !== 'number' || !(maxPos > 0)) throw new UnsupportedConfig('max_position_embeddings', `expected a positive number, got ${JSON.stringify(maxPos)}`)
  return theta * Math.pow((2 * maxPos) / origMax - 1, headDim / (headDim - 2))
}

/** Layer roles from global_attn_idx, kv_reuse_group / kv_reuse_every_i_layer (spec §3.1, §3.3). */
function planLayers(raw: Json, numLayers: number, hasWindow: boolean): LayerPlan[] {
  const globalRaw = raw['global_attn_idx'] ?? []
  if (!Array.isArray(globalRaw) || !globalRaw.every((i) => Number.isInteger(i) && i >= 0 && i < numLayers))
    throw new UnsupportedConfig('global_attn_idx', `expected layer indices in [0, ${numLayers}), got ${JSON.stringify(globalRaw)}`)
  const globals = new Set<number>(globalRaw as number[])

  const borrowFrom = new Map<number, number>()
  const groups = raw['kv_reuse_group'] ?? null
  if (groups !== null) {
    if (!Array.isArray(groups)) throw new UnsupportedConfig('kv_reuse_group', 'expected a list of layer lists')
    for (const group of groups) {
      if (!Array.isArray(group) || group.length < 1 || !group.every((i) => Number.isInteger(i) && i >= 0 && i < numLayers))
        throw new UnsupportedConfig('kv_reuse_group', `bad group ${JSON.stringify(group)}`)
      const [producer, ...consumers] = group as number[]
      for (const c of consumers) {
        if (c <= producer || borrowFrom.has(c) || borrowFrom.has(producer))
          throw new UnsupportedConfig('kv_reuse_group', `group ${JSON.stringify(group)}: consumers must follow their producer and belong to one group`)
        borrowFrom.set(c, producer)
      }
    }
  } else {
    const every = raw['kv_reuse_every_i_layer'] ?? -1
    if (typeof every !== 'number' || !Number.isInteger(every)) throw new UnsupportedConfig('kv_reuse_every_i_layer', `expected an integer, got ${JSON.stringify(every)}`)
    // spec §1.2: layer i is a consumer iff i % k ≠ 0; it reads the K/V of the group's first layer.
    if (every > 0) for (let i = 0; i < numLayers; i++) if (i % every !== 0) borrowFrom.set(i, i - (i % every))
  }

  return Array.from({ length: numLayers }, (_, index): LayerPlan => {
    const producer = borrowFrom.get(index)
    return {
      index,
      window: !hasWindow || globals.has(index) ? 'global' : 'sliding',
      kv: producer === undefined ? { produce: true } : { produce: false, borrowFrom: producer },
    }
  })
}

/** The in_proj output rows of a layer, in order (spec §2.3). */
export function inProjSplit(config: HymbaConfig, plan: LayerPlan) {
  const q = config.hiddenSize
  const k = plan.kv.produce ? config.numKvHeads * config.headDim : 0
  const v = plan.kv.produce ? config.numKvHeads * config.valueHeadDim : 0
  const x = config.innerSize
  const z = config.innerSize
  return { q, k, v, x, z, total: q + k + v + x + z }
}
