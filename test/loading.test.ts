// Loading HF checkpoints: config defaults and the release config, sharded bf16 checkpoints, and
// clear errors naming the file, tensor or field for bad inputs; state-size accounting (spec §3.5).
import assert from 'node:assert/strict'
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { TensorStore } from '../src/checkpoint.ts'
import { parseConfig } from '../src/config.ts'
import { BadCheckpoint, UnsupportedConfig } from '../src/errors.ts'
import { loadModel } from '../src/load.ts'
import { folderSource } from '../src/node/folder-source.ts'
import { createReferenceKernels } from '../src/reference/kernels.ts'
import { stateBytes } from '../src/state.ts'
import { SHARED, fixtureDir } from './support/fixtures.ts'

const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'))
const release = () => parseConfig(readJson(join(SHARED, 'tokenizers', 'hymba-1.5b', 'config.json')))

/** A copy of fixture A's folder with config.json edited and/or model.safetensors replaced. */
function fixtureCopy(edit: { config?: (c: Record<string, unknown>) => void; weights?: (bytes: Uint8Array) => Uint8Array }): string {
  const dir = mkdtempSync(join(tmpdir(), 'hymba-load-'))
  const config = readJson(join(fixtureDir('A'), 'config.json'))
  edit.config?.(config)
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config))
  const weights = new Uint8Array(readFileSync(join(fixtureDir('A'), 'model.safetensors')))
  writeFileSync(join(dir, 'model.safetensors'), edit.weights ? edit.weights(weights) : weights)
  return dir
}

/** Rewrite a safetensors header (same data section). */
function editHeader(bytes: Uint8Array, edit: (h: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void): Uint8Array {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true))
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)))
  edit(header)
  const text = new TextEncoder().encode(JSON.stringify(header).padEnd(n, ' '))
  assert.ok(text.length === n, 'edited header must keep its length')
  const out = bytes.slice()
  out.set(text, 8)
  return out
}

const load = (dir: string) => loadModel(folderSource(dir), { kernels: createReferenceKernels() })

describe('config', () => {
  it('reads the real Hymba-1.5B config.json with the spec §3.1 layer roles', () => {
    const c = release()
    assert.equal(c.headDim, 64)
    assert.equal(c.valueHeadDim, 128)
    assert.equal(c.innerSize, 3200)
    assert.equal(c.dtype, 'bfloat16')
    assert.ok(Math.abs(c.ropeBase - 74534.83031811893) < 1e-6)
    const producers = c.layers.filter((l) => l.kv.produce).map((l) => l.index)
    assert.deepEqual(producers, [0, 1, 3, 5, 7, 9, 11, 13, 15, 16, 19, 21, 23, 25, 27, 29, 31])
    assert.deepEqual(c.layers.filter((l) => l.window === 'global').map((l) => l.index), [0, 15, 31])
    assert.deepEqual(c.layers[18].kv, { produce: false, borrowFrom: 16 })
  })

  it('fills missing keys with the reference defaults', () => {
    const c = parseConfig({ kq_norm: 'none' })
    assert.equal(c.vocabSize, 65536)
    assert.equal(c.hiddenSize, 4096)
    assert.equal(c.numKvHeads, 8)
    assert.equal(c.dtRank, 256) // "auto" → ⌈H/16⌉
    assert.equal(c.numMetaTokens, 0)
    assert.equal(c.slidingWindow, Infinity)
    assert.equal(c.rope, false)
    assert.equal(c.tieWordEmbeddings, false)
  })

  it('accepts torch_dtype as well as dtype', () => {
    assert.equal(parseConfig({ kq_norm: 'none', torch_dtype: 'float16' }).dtype, 'float16')
    assert.equal(parseConfig({ kq_norm: 'none', dtype: 'bfloat16' }).dtype, 'bfloat16')
  })

  it('kv_reuse_every_i_layer groups layers when kv_reuse_group is absent', () => {
    const c = parseConfig({ kq_norm: 'none', num_hidden_layers: 5, kv_reuse_every_i_layer: 2 })
    assert.deepEqual(c.layers.map((l) => (l.kv.produce ? 'p' : l.kv.borrowFrom)), ['p', 0, 'p', 2, 'p'])
  })

  for (const [field, value] of [
    ['kq_norm', 'layer'],
    ['attn_hidden_size', 128],
    ['rope_type', 'dynamic_ntk'],
    ['mlp_hidden_act', 'gelu'],
    ['memory_tokens_interspersed_every', 4],
    ['dtype', 'int8'],
    ['num_key_value_heads', 3],
    ['global_attn_idx', [99]],
  ] as const) {
    it(`rejects ${field} = ${JSON.stringify(value)}, naming the field`, () => {
      assert.throws(
        () => parseConfig({ kq_norm: 'none', hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 2, orig_max_position_embeddings: 2048, [field]: value }),
        (err: unknown) => err instanceof UnsupportedConfig && err.field === field && err.message.includes(field),
      )
    })
  }
})

describe('state size accounting (spec §3.5)', () => {
  it('reproduces the worked bf16 values for Hymba-1.5B', () => {
    const c = release()
    assert.equal(stateBytes(c, 4096, 'bfloat16'), 59_392_000)
    assert.equal(stateBytes(c, 1000, 'bfloat16'), 4_096_000 + 6_497_280 + 30_320_640)
    assert.equal(stateBytes(c, 8064, 'bfloat16'), 82_247_680)
    assert.equal(stateBytes(c, 4096, 'float32'), 2 * 59_392_000)
  })
})

describe('checkpoints', () => {
  it('loads the sharded bf16 checkpoint of hymba-brown-17m', async () => {
    const store = await TensorStore.open(folderSource(join(SHARED, 'models', 'hymba-brown-17m')))
    const embed = store.f32('model.embed_tokens.weight', [32001, 256])
    // bf16 widens exactly: every value has a zero low half
    const bits = new Uint32Array(embed.buffer)
    assert.ok(bits.every((b) => (b & 0xffff) === 0))
    assert.ok(store.has('model.layers.7.moe.experts.0.down_proj.weight'))
  })

  it('widens F16 tensors exactly', async () => {
    const header = new TextEncoder().encode(JSON.stringify({ t: { dtype: 'F16', shape: [5], data_offsets: [0, 10] } }))
    const bytes = new Uint8Array(8 + header.length + 10)
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true)
    bytes.set(header, 8)
    const data = new DataView(bytes.buffer, 8 + header.length)
    ;[0x3c00, 0xc000, 0x0001, 0x7bff, 0x3555].forEach((h, i) => data.setUint16(2 * i, h, true))
    const source = { name: 'memory', read: async () => bytes, exists: async (f: string) => f === 'model.safetensors' }
    const store = await TensorStore.open(source)
    assert.deepEqual(Array.from(store.f32('t', [5])), [1, -2, 2 ** -24, 65504, Math.fround(0.333251953125)])
  })

  it('names the missing tensor', async () => {
    const dir = fixtureCopy({ weights: (b) => editHeader(b, (h) => { h['model.layers.3.mamba.D.X'] = h['model.layers.3.mamba.D.0']; delete h['model.layers.3.mamba.D.0'] }) })
    await assert.rejects(load(dir), (err: unknown) => err instanceof BadCheckpoint && /missing tensor/.test(err.message) && err.tensor === 'model.layers.3.mamba.D.0')
  })

  it('names the tensor with the wrong shape and its file', async () => {
    const dir = fixtureCopy({ weights: (b) => editHeader(b, (h) => { h['model.final_layernorm.weight'].shape = [32, 2] }) })
    await assert.rejects(load(dir), (err: unknown) => err instanceof BadCheckpoint && err.tensor === 'model.final_layernorm.weight' && /wrong shape \[32,2\], expected \[64\]/.test(err.message) && /model\.safetensors/.test(err.message))
  })

  it('refuses a truncated file, naming it', async () => {
    const dir = fixtureCopy({ weights: (b) => b.subarray(0, b.length - 1000) })
    await assert.rejects(load(dir), (err: unknown) => err instanceof BadCheckpoint && /truncated/.test(err.message) && err.file.endsWith('model.safetensors'))
  })

  it('refuses a corrupt header', async () => {
    const dir = fixtureCopy({ weights: (b) => { const c = b.slice(); c[9] = 0x7b; c[10] = 0x7b; return c } })
    await assert.rejects(load(dir), (err: unknown) => err instanceof BadCheckpoint && /corrupt/.test(err.message))
  })

  it('refuses an unsupported config value at load, naming the field', async () => {
    const dir = fixtureCopy({ config: (c) => { c['mlp_hidden_act'] = 'tanh' } })
    await assert.rejects(load(dir), (err: unknown) => err instanceof UnsupportedConfig && err.field === 'mlp_hidden_act')
  })

  it('refuses a folder without weights', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hymba-empty-'))
    copyFileSync(join(fixtureDir('A'), 'config.json'), join(dir, 'config.json'))
    await assert.rejects(load(dir), (err: unknown) => err instanceof BadCheckpoint && /no model\.safetensors/.test(err.message))
  })
})
