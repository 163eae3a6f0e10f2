// Writes a random-weight Hymba checkpoint (HF format, bf16, sharded) for benchmarks, from a
// config.json (default: ../shared/models/bench-140m). Speed does not depend on weight values; the
// values follow the usual initialisation so activations stay finite. Fixed seed: reproducible.
//   node --import tsx scripts/make-bench-model.ts [--config FILE] [--out DIR] [--seed N]
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseConfig } from '../src/config.ts'
import { writeSafetensors, type NamedTensor } from '../src/node/safetensors-writer.ts'
import { seededRandom } from '../src/sampling.ts'
import { expectedTensors } from '../src/weights.ts'
import { parseFlags } from '../src/cli/args.ts'

const SHARED = join(import.meta.dirname, '..', '..', 'shared')
const flags = parseFlags(process.argv.slice(2), { config: { type: 'string' }, out: { type: 'string' }, seed: { type: 'number' } })
const configPath = flags.config ?? join(SHARED, 'models', 'bench-140m', 'config.json')
const out = flags.out ?? join(import.meta.dirname, '..', '.tmp', 'bench-140m')
const raw = JSON.parse(await readFile(configPath, 'utf8'))
const config = parseConfig(raw)
const random = seededRandom(flags.seed ?? 140)

/** Standard normal by Box–Muller. */
const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())

function tensorFor(name: string, shape: number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1)
  const data = new Float32Array(n)
  if (/(layernorm|_norm)\.weight$/.test(name)) data.fill(1)
  else if (name.endsWith('A_log.0')) for (let i = 0; i < n; i++) data[i] = Math.log(1 + (i % shape[1]))
  else if (name.endsWith('D.0')) data.fill(1)
  else if (name.endsWith('dt_proj.0.bias')) for (let i = 0; i < n; i++) data[i] = Math.log(Math.expm1(0.001 + 0.099 * random())) // softplus⁻¹ of Δ ∈ [0.001, 0.1]
  else for (let i = 0; i < n; i++) data[i] = 0.02 * normal()
  return data
}

await mkdir(out, { recursive: true })
const shapes = expectedTensors(config, { has: () => false })
const shardBytes = 256 * 1024 * 1024
const weightMap: Record<string, string> = {}
const shards: NamedTensor[][] = [[]]
let bytes = 0
for (const [name, shape] of shapes) {
  const size = 2 * shape.reduce((a, b) => a * b, 1)
  if (bytes + size > shardBytes && shards.at(-1)!.length > 0) {
    shards.push([])
    bytes = 0
  }
  shards.at(-1)!.push({ name, shape, data: tensorFor(name, shape) })
  bytes += size
}
for (const [i, tensors] of shards.entries()) {
  const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`
  for (const t of tensors) weightMap[t.name] = file
  await writeSafetensors(join(out, file), tensors, 'BF16')
}
await writeFile(join(out, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }, null, 2))
await writeFile(join(out, 'config.json'), JSON.stringify({ ...raw, dtype: 'bfloat16' }, null, 2))
for (const file of ['tokenizer.json', 'tokenizer_config.json']) await copyFile(join(SHARED, 'models', 'hymba-brown-17m', file), join(out, file))
const params = [...shapes.values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0)
process.stderr.write(`wrote ${out}: ${params.toLocaleString('en')} parameters in ${shards.length} shard(s)\n`)
