// Run-in-your-browser (issue 6 item 3): the chat page's local mode. Downloads the model folder the
// worker serves (GET /v1/model-files/:file: HF checkpoint or converted bundle), runs it on WebGPU where
// navigator.gpu has an adapter, else on the WASM-SIMD backend, with the same tokenizer and chat template
// as the worker (src/tokenizer.ts). Bundled by scripts/build-browser.ts into models/web/hymba-local.js.
// Must not import: worker/, Node built-ins.
import { wasmRelaxed, wasmSimd } from 'hymba:embedded'
import { createWasmKernelsFromModules } from '../../wasm/loader.ts'
import { isBundle, openBundle } from '../bundle/reader.ts'
import type { CheckpointSource } from '../checkpoint.ts'
import { checkpointReader, loadModel, readConfig } from '../load.ts'
import { TensorStore } from '../checkpoint.ts'
import { Sampler } from '../sampling.ts'
import { HymbaTokenizer, TextStream, type ChatMessage } from '../tokenizer.ts'
import { NoWebGpu, requestGpu } from '../webgpu/gpu.ts'
import { WebGpuModel } from '../webgpu/model.ts'
import { embeddedShaders } from './embedded-shaders.ts'
import { fetchSource } from './fetch-source.ts'

export type LocalBackend = 'webgpu' | 'wasm'

export interface LocalChatOptions {
  /** URL of the model folder, ending in '/' (the worker: '/v1/model-files/'). */
  readonly base: string
  /** Request headers for the downloads (authorization when the worker has API keys). */
  readonly headers?: Readonly<Record<string, string>>
  /**
   * 'auto' (default): WebGPU when the browser has a hardware adapter, else WASM-SIMD (also in place of a
   * CPU fallback adapter: on SwiftShader the demo model decodes at 0.2 tokens/s, on WASM-SIMD at ~90).
   */
  readonly backend?: LocalBackend | 'auto'
  /** Linear memory of the WASM backend (default 512 MiB: a 17M-parameter f32 model takes 67 MiB). */
  readonly wasmMemoryBytes?: number
  /** Progress text for the page ("downloading …"). */
  readonly onStatus?: (text: string) => void
}

export interface ReplyOptions {
  readonly maxTokens: number
  /** 0 = greedy. */
  readonly temperature?: number
  readonly topP?: number
  readonly seed?: number
  readonly signal?: AbortSignal
}

export interface TurnStats {
  readonly promptTokens: number
  /** Prompt tokens that were already in the state (the previous turns). */
  readonly cachedTokens: number
  readonly completionTokens: number
  /** Time to first token (prompt processing + first sample), ms. */
  readonly firstTokenMs: number
  /** Decode tokens/s after the first token. */
  readonly decodeTokensPerSecond: number
}

/** What the chat needs of a model, on either backend (the WASM one is synchronous). */
interface Forward<S> {
  newState(): S
  prefill(state: S, ids: readonly number[]): Promise<Float32Array>
  append(state: S, ids: readonly number[]): Promise<Float32Array>
  decode(state: S, id: number): Promise<Float32Array>
  dispose(state: S): void
}

export class LocalChat<S = unknown> {
  private state: S | null = null
  private fed: number[] = [] // the ids `state` holds (after the meta tokens)
  private busy = false
  lastStats: TurnStats | null = null

  private constructor(
    private readonly model: Forward<S>,
    private readonly tokenizer: HymbaTokenizer,
    readonly backend: LocalBackend,
    /** The WebGPU adapter, or the WASM variant. */
    readonly device: string,
  ) {}

  static async load(options: LocalChatOptions): Promise<LocalChat> {
    const status = options.onStatus ?? (() => {})
    let downloaded = 0
    const source = fetchSource(options.base, {
      headers: options.headers,
      onFile: (file, bytes) => status(`downloaded ${file} (${((downloaded += bytes) / 2 ** 20).toFixed(1)} MiB so far)`),
    })
    const tokenizer = HymbaTokenizer.fromSource(source)
    const want = options.backend ?? 'auto'
    if (want !== 'wasm') {
      try {
        const gpu = await requestGpu()
        if (want === 'auto' && gpu.fallback) {
          gpu.device.destroy()
          throw new NoWebGpu(`the WebGPU adapter (${gpu.adapterName}) is a CPU fallback`)
        }
        status(`WebGPU adapter ${gpu.adapterName || '(unnamed)'}: downloading the model`)
        const model = await loadWebGpu(source, gpu)
        const forward: Forward<ReturnType<WebGpuModel['newState']>> = {
          newState: () => model.newState(),
          prefill: (s, ids) => model.prefill(s, ids),
          append: (s, ids) => model.append(s, ids),
          decode: (s, id) => model.decode(s, id),
          dispose: (s) => s.dispose(),
        }
        return new LocalChat(forward, await tokenizer, 'webgpu', gpu.adapterName || 'WebGPU adapter') as LocalChat
      } catch (err) {
        if (want === 'webgpu' || !(err instanceof NoWebGpu)) throw err
        status(`no WebGPU (${err.message}); using WASM-SIMD`)
      }
    }
    const compile = (bytes: Uint8Array) => WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>)
    const kernels = await createWasmKernelsFromModules(
      { simd: await compile(wasmSimd), relaxed: await compile(wasmRelaxed) },
      { memoryBytes: options.wasmMemoryBytes ?? 512 * 2 ** 20, relaxed: 'auto' },
    )
    status('WASM-SIMD: downloading the model')
    const model = await loadModel(source, { kernels })
    const forward: Forward<ReturnType<typeof model.newState>> = {
      newState: () => model.newState(),
      prefill: async (s, ids) => model.prefill(s, ids),
      append: async (s, ids) => model.append(s, ids),
      decode: async (s, id) => model.decode(s, id),
      dispose: (s) => s.dispose(),
    }
    return new LocalChat(forward, await tokenizer, 'wasm', kernels.name) as LocalChat
  }

  /**
   * The assistant's reply to `messages` (the chat template with the generation prompt), as text
   * deltas. The state carries over between turns: when the new prompt extends the ids already fed,
   * only the new ids are appended (the worker's prefix reuse); otherwise it starts from the meta prefix.
   */
  async *reply(messages: readonly ChatMessage[], options: ReplyOptions): AsyncGenerator<string, TurnStats> {
    if (this.busy) throw new Error('a reply is already being generated')
    this.busy = true
    try {
      const start = performance.now()
      const ids = this.tokenizer.encode(this.tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true }), { addBos: false })
      const reuse = this.state !== null && this.fed.length > 0 && this.fed.length < ids.length && this.fed.every((id, i) => ids[i] === id)
      if (!reuse) this.reset()
      const cached = reuse ? this.fed.length : 0
      const state = (this.state ??= this.model.newState())
      const rest = ids.slice(cached)
      let logits = cached === 0 ? await this.model.prefill(state, rest) : await this.model.append(state, rest)
      this.fed = [...ids]

      const sampler = new Sampler({ temperature: options.temperature ?? 0, topP: options.topP, seed: options.seed })
      const text = new TextStream(this.tokenizer)
      let produced = 0
      let firstTokenMs = 0
      let decodeStart = 0
      for (;;) {
        options.signal?.throwIfAborted()
        const id = sampler.sample(logits)
        produced++
        if (produced === 1) firstTokenMs = performance.now() - start
        if (id === this.tokenizer.eosId) break
        const delta = text.push(id)
        if (delta) yield delta
        if (produced >= options.maxTokens) break
        if (produced === 1) decodeStart = performance.now()
        logits = await this.model.decode(state, id)
        this.fed.push(id)
      }
      const tail = text.flush()
      if (tail) yield tail
      const decoded = Math.max(0, produced - 1)
      const seconds = (performance.now() - decodeStart) / 1000
      this.lastStats = { promptTokens: ids.length, cachedTokens: cached, completionTokens: produced, firstTokenMs, decodeTokensPerSecond: decoded > 0 && decodeStart > 0 ? decoded / seconds : 0 }
      return this.lastStats
    } catch (err) {
      this.reset() // an aborted or failed turn leaves the state somewhere unknown
      throw err
    } finally {
      this.busy = false
    }
  }

  /** Forget the conversation (the next reply starts from the meta prefix). */
  reset(): void {
    if (this.state !== null) this.model.dispose(this.state)
    this.state = null
    this.fed = []
  }
}

async function loadWebGpu(source: CheckpointSource, gpu: Awaited<ReturnType<typeof requestGpu>>): Promise<WebGpuModel> {
  if (await isBundle(source)) {
    const bundle = await openBundle(source)
    return WebGpuModel.create(bundle.config, await bundle.readAll(), { shaders: embeddedShaders, gpu })
  }
  const config = await readConfig(source)
  return WebGpuModel.create(config, checkpointReader(await TensorStore.open(source)), { shaders: embeddedShaders, gpu })
}
