// Bindings of the worker (wrangler.toml) and the limits read from its vars, parsed once per request.
// Owns: the `Env` type and `Limits`. Must not import: src/ (the core), other worker modules.
import type { KeySlots } from './key-slots.ts'
import type { SessionObject } from './session.ts'

export interface Env {
  readonly ASSETS: Fetcher
  readonly SESSIONS: DurableObjectNamespace<SessionObject>
  readonly KEY_SLOTS: DurableObjectNamespace<KeySlots>
  readonly MODEL_ID: string
  readonly MODEL_DIR: string
  readonly MAX_PROMPT_TOKENS: string
  readonly MAX_COMPLETION_TOKENS: string
  readonly DEFAULT_MAX_TOKENS: string
  readonly MAX_BODY_BYTES: string
  readonly MAX_QUEUED_PER_SESSION: string
  readonly STREAM_STALL_MS: string
  readonly WASM_MEMORY_MB: string
  readonly WASM_KERNELS: string
  readonly MAX_CONCURRENT_PER_KEY: string
  readonly MAX_TURNS_PER_ISOLATE: string
  /** Secret: comma-separated API keys. Unset or empty: the API is open and every session is 'public'. */
  readonly API_KEYS?: string
  /** Test-only fault injection (worker/faults.ts); set by test/worker-harness.ts, never by wrangler.toml. */
  readonly TEST_FAULTS?: string
}

export interface Limits {
  readonly modelId: string
  readonly modelDir: string
  readonly maxPromptTokens: number
  readonly maxCompletionTokens: number
  readonly defaultMaxTokens: number
  readonly maxBodyBytes: number
  readonly maxQueuedPerSession: number
  /** Completions in flight per API key, across isolates (worker/key-slots.ts); none without keys. */
  readonly maxConcurrentPerKey: number
  /** Turns that run at once in one isolate (worker/turn-gate.ts); more wait their turn. */
  readonly maxTurnsPerIsolate: number
  /** A consumer that takes no event for this long is gone (see session.ts). */
  readonly streamStallMs: number
  /** Linear memory of the WASM backend: model weights, session states and scratch (docs/worker-api.md). */
  readonly wasmMemoryBytes: number
  /**
   * 'auto': the relaxed-SIMD kernels where the engine has them (integer dot products, fused
   * multiply-adds), else plain SIMD; 'plain': plain SIMD everywhere, bit-identical to the core in Node.
   */
  readonly wasmKernels: WasmKernelChoice
}

export const WASM_KERNEL_CHOICES = ['auto', 'plain'] as const
export type WasmKernelChoice = (typeof WASM_KERNEL_CHOICES)[number]

export function limitsOf(env: Env): Limits {
  return {
    modelId: env.MODEL_ID,
    modelDir: env.MODEL_DIR,
    maxPromptTokens: positiveInt('MAX_PROMPT_TOKENS', env.MAX_PROMPT_TOKENS),
    maxCompletionTokens: positiveInt('MAX_COMPLETION_TOKENS', env.MAX_COMPLETION_TOKENS),
    defaultMaxTokens: positiveInt('DEFAULT_MAX_TOKENS', env.DEFAULT_MAX_TOKENS),
    maxBodyBytes: positiveInt('MAX_BODY_BYTES', env.MAX_BODY_BYTES),
    maxQueuedPerSession: positiveInt('MAX_QUEUED_PER_SESSION', env.MAX_QUEUED_PER_SESSION),
    maxConcurrentPerKey: positiveInt('MAX_CONCURRENT_PER_KEY', env.MAX_CONCURRENT_PER_KEY),
    maxTurnsPerIsolate: positiveInt('MAX_TURNS_PER_ISOLATE', env.MAX_TURNS_PER_ISOLATE),
    streamStallMs: positiveInt('STREAM_STALL_MS', env.STREAM_STALL_MS),
    wasmMemoryBytes: positiveInt('WASM_MEMORY_MB', env.WASM_MEMORY_MB) * 2 ** 20,
    wasmKernels: kernelChoice(env.WASM_KERNELS),
  }
}

function kernelChoice(value: string | undefined): WasmKernelChoice {
  const choice = value ?? 'auto'
  if (!(WASM_KERNEL_CHOICES as readonly string[]).includes(choice)) throw new Error(`wrangler var WASM_KERNELS must be one of ${WASM_KERNEL_CHOICES.join(', ')}, got ${JSON.stringify(value)}`)
  return choice as WasmKernelChoice
}

function positiveInt(name: string, value: string): number {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`wrangler var ${name} must be a positive integer, got ${JSON.stringify(value)}`)
  return n
}
