// `hymba convert`: an HF checkpoint folder → a bundle (src/bundle/format.ts), tensor by tensor, in
// the storage formats chosen by src/bundle/policy.ts. Must not import: Node built-ins (the source
// and the sink are passed in), worker/, the wasm backend.
import type { CheckpointSource } from '../checkpoint.ts'
import { TensorStore } from '../checkpoint.ts'
import { parseConfig } from '../config.ts'
import { BadCheckpoint } from '../errors.ts'
import { quantizeQ4, quantizeQ8 } from '../quant.ts'
import { encodeHalf } from './f16.ts'
import { MAX_FILE_BYTES, type BundleManifest, type Quant } from './format.ts'
import { planTensors, type EmbedQuant, type TensorPlan } from './policy.ts'
import { BundleWriter, type BundleSink, type EncodedTensor } from './writer.ts'

/** HF files copied as they are when present, so a bundle folder is self-contained. */
export const COPIED_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'special_tokens_map.json']

export const GROUPS = [32, 64] as const
export type Group = (typeof GROUPS)[number]

export interface ConvertOptions {
  readonly quant: Quant
  /** Columns per scale of q8 / q4 tensors (policy.ts falls back to 32 where it does not divide a row). */
  readonly group?: Group // default: DEFAULT_GROUP
  /** int4 only: the embedding (tied lm_head) in int4 (default) or int8 (policy.ts). */
  readonly embed?: EmbedQuant
  readonly maxFileBytes?: number
  readonly onProgress?: (progress: { readonly done: number; readonly total: number; readonly tensor: TensorPlan }) => void
}

/**
 * Measured on hymba-brown-17m (docs/bundles.md): int8 NLL is the same with groups of 32 and 64, so
 * int8 takes the smaller bundle; int4 at 64 loses +0.26 % NLL against +0.25 % at 32 (full protocol),
 * for 8 MiB less on the 140M model and a faster decode (half the scales to stream and apply).
 */
export const DEFAULT_GROUP = { int8: 64, int4: 64 } as const satisfies Record<'int8' | 'int4', Group>

/** The group a conversion asks for: options.group, else its format's default (meaningful for int8 and int4 only). */
export function groupOf(options: Pick<ConvertOptions, 'quant' | 'group'>): Group {
  return options.group ?? (options.quant === 'int4' ? DEFAULT_GROUP.int4 : DEFAULT_GROUP.int8)
}

export async function convertCheckpoint(source: CheckpointSource, sink: BundleSink, options: ConvertOptions): Promise<BundleManifest> {
  const quantised = options.quant === 'int8' || options.quant === 'int4'
  const group = groupOf(options)
  const configBytes = await source.read('config.json')
  let rawConfig: Record<string, unknown>
  try {
    rawConfig = JSON.parse(new TextDecoder().decode(configBytes))
  } catch {
    throw new BadCheckpoint(`${source.name}/config.json`, 'not valid JSON')
  }
  const config = parseConfig(rawConfig)
  const store = await TensorStore.open(source)
  const plans = planTensors(config, (name) => store.has(name), options.quant, group, options.embed)
  const writer = new BundleWriter(sink, options.maxFileBytes ?? MAX_FILE_BYTES)
  for (const [i, plan] of plans.entries()) {
    await writer.add(encode(plan, store.f32(plan.name, plan.shape)))
    options.onProgress?.({ done: i + 1, total: plans.length, tensor: plan })
  }
  for (const file of COPIED_FILES) if (await source.exists(file)) await writer.addFile(file, await source.read(file))
  return writer.finish({ quant: options.quant, group: quantised ? group : null, config: rawConfig })
}

/** A float32 tensor in its planned storage format. */
function encode(plan: TensorPlan, values: Float32Array): EncodedTensor {
  const { name, shape, format } = plan
  const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
  if (format === 'f32') return { name, shape, format, data: bytes(values) }
  if (format === 'f16') return { name, shape, format, data: bytes(encodeHalf(values)) }
  const matrix = { format: 'f32', rows: shape[0], cols: shape[1], data: values } as const
  const q = format === 'q8' ? quantizeQ8(matrix, plan.group) : quantizeQ4(matrix, plan.group as Group)
  return { name, shape, format, group: q.group, data: bytes(q.data), scales: q.scales }
}
