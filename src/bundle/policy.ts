// Which tensor gets which storage format in a bundle. Owns the quantisation policy; the measurements
// behind it are in docs/bundles.md (Quality). Must not import: Node built-ins, worker/, HF tensor names (the
// set of matrices comes from loadWeights itself, so weights.ts stays the only module that names them).
//
// Policy
// - Only matrices the model multiplies with (Kernels.matmul / gatherRows) are converted; norms,
//   biases, conv weights, A, D and the meta tokens are read as float32 vectors and stay f32.
// - f16: every matrix is stored f16 (widened to f32 at load).
// - int8 / int4: a matrix is quantised with the requested group when it divides the row, else
//   with 32 when that does. A row that neither divides (dt_proj: dt_rank columns) is int8 with one
//   scale per row when it has at least ROW_GROUP_MIN columns (the kernels pad it to whole runs of
//   32), else it stays f32: dt_rank 48 of the 140M model, 16 of hymba-brown-17m (whose bundles this
//   leaves as they were).
// - int4 stores the embedding (tied lm_head) int4 too by default; `embed: 'int8'` (`hymba convert
//   --quant int4 --embed int8`) keeps it int8: see EMBEDDING_INT4 below.
// - in_proj, x_proj, out_proj and the MLP are all quantised: with them the int4 bundle of
//   hymba-brown-17m stays within +0.2 % NLL of f32 (docs/bundles.md), so none needs an exception.
import type { HymbaConfig } from '../config.ts'
import { createReferenceKernels } from '../reference/kernels.ts'
import { expectedTensors, loadWeights, type WeightReader } from '../weights.ts'
import type { Quant, TensorFormat } from './format.ts'

export interface TensorPlan {
  readonly name: string
  readonly shape: readonly number[]
  readonly format: TensorFormat
  readonly group?: number
}

/**
 * The embedding (rows = vocabulary) is also the lm_head, the largest matrix product of every token.
 * In int4 bundles it is int4 by default: the 140M model's embedding takes 11.7 MiB instead of 23.4,
 * which is what lets its int4 bundle run in a 128 MB isolate, and the q4 lm_head reads half the
 * bytes of the q8 one (docs/benchmarks.md). The cost on hymba-brown-17m is +0.25 % mean NLL of f32
 * instead of +0.11 % (full protocol, docs/bundles.md; the target is +3 %); `embed: 'int8'` buys
 * that back for the size.
 */
const EMBEDDING_INT4: TensorFormat = 'q4'

/**
 * The shortest row stored int8 with one scale per row where no group divides it. Padded to whole
 * runs of 32, a 48-column row (dt_proj of the 140M model) streams 64 bytes instead of 192: its 12
 * matvecs with their activation quantisation take 68–77 µs a token against 155–167 in f32 (Deno,
 * docs/benchmarks.md, session 7). A 16-column row would stream 32 bytes instead of 64 through three
 * kernel calls instead of one.
 */
const ROW_GROUP_MIN = 32

/** Storage of the embedding (tied lm_head) in int4 bundles; int8 bundles always use int8. */
export const EMBED_QUANTS = ['int8', 'int4'] as const
export type EmbedQuant = (typeof EMBED_QUANTS)[number]

/** Every tensor the model reads, in load order, with its storage format. */
export function planTensors(config: HymbaConfig, has: (name: string) => boolean, quant: Quant, group: number, embed?: EmbedQuant): TensorPlan[] {
  const embedding: TensorFormat = embed === undefined ? EMBEDDING_INT4 : embed === 'int4' ? 'q4' : 'q8'
  const matrices = matrixNames(config, has)
  const plans: TensorPlan[] = []
  for (const [name, shape] of expectedTensors(config, { has })) {
    if (!matrices.has(name) || quant === 'f32') {
      plans.push({ name, shape, format: 'f32' })
      continue
    }
    if (quant === 'f16') {
      plans.push({ name, shape, format: 'f16' })
      continue
    }
    const cols = shape[1]
    const g = cols % group === 0 ? group : cols % 32 === 0 ? 32 : null
    const format: TensorFormat = quant === 'int8' ? 'q8' : shape[0] === config.vocabSize ? embedding : 'q4'
    if (g !== null) plans.push({ name, shape, format, group: g })
    else if (cols >= ROW_GROUP_MIN) plans.push({ name, shape, format: 'q8', group: cols })
    else plans.push({ name, shape, format: 'f32' })
  }
  return plans
}

/** Names loadWeights reads as matrices: a dry run with empty tensors on the reference backend. */
function matrixNames(config: HymbaConfig, has: (name: string) => boolean): Set<string> {
  const names = new Set<string>()
  const probe: WeightReader = {
    has,
    f32: () => new Float32Array(0),
    matrix: (name, rows, cols) => {
      names.add(name)
      return { format: 'f32', rows, cols, data: new Float32Array(0) }
    },
  }
  loadWeights(config, probe, createReferenceKernels())
  return names
}
