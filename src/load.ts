// Loading a model from an HF checkpoint folder (config.json, safetensors, single or sharded) or from a
// converted bundle folder (manifest.json, src/bundle/).
// Must not import: worker/, Node built-ins (sources are passed in), any backend.
import type { Kernels, MatrixSource } from './backend.ts'
import { isBundle, openBundle } from './bundle/reader.ts'
import { TensorStore, type CheckpointSource } from './checkpoint.ts'
import { parseConfig, type HymbaConfig } from './config.ts'
import { BadCheckpoint } from './errors.ts'
import { HymbaModel } from './model.ts'
import { loadWeights, loadWeightsStaged, type WeightReader } from './weights.ts'

export async function readConfig(source: CheckpointSource): Promise<HymbaConfig> {
  const bytes = await source.read('config.json')
  let raw: Record<string, unknown>
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes))
  } catch {
    throw new BadCheckpoint(`${source.name}/config.json`, 'not valid JSON')
  }
  return parseConfig(raw)
}

/** An HF checkpoint as a WeightReader: every matrix is float32. */
export function checkpointReader(store: TensorStore): WeightReader {
  return {
    has: (name) => store.has(name),
    f32: (name, shape) => store.f32(name, shape),
    matrix: (name, rows, cols): MatrixSource => ({ format: 'f32', rows, cols, data: store.f32(name, [rows, cols]) }),
  }
}

/** Load config and weights, prepare them on `kernels`, and precompute the meta-token prefix. */
export async function loadModel(source: CheckpointSource, options: { kernels: Kernels }): Promise<HymbaModel> {
  if (await isBundle(source)) {
    const { config, weights } = await openBundle(source) // file by file: one data file held at a time
    return new HymbaModel(config, await loadWeightsStaged(config, weights, options.kernels), options.kernels)
  }
  const config = await readConfig(source)
  const store = await TensorStore.open(source)
  const weights = loadWeights(config, checkpointReader(store), options.kernels)
  return new HymbaModel(config, weights, options.kernels)
}
