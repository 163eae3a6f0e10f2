// Backend selection for Node programs (CLI, scripts, tests): by name. WASM-SIMD is the default;
// the plain TypeScript reference stays available as `ts`.
// Must not import: worker/.
import { createWasmKernels } from '../../wasm/loader.ts'
import type { Kernels } from '../backend.ts'
import { createReferenceKernels } from '../reference/kernels.ts'

export const BACKENDS = ['wasm', 'ts'] as const
export type BackendName = (typeof BACKENDS)[number]

/** Linear memory the WASM backend reserves in Node: room for a ~140M-parameter f32 model and its states. */
export const NODE_WASM_MEMORY_BYTES = 1536 * 1024 * 1024

export async function createKernels(name: string = 'wasm', options: { memoryBytes?: number } = {}): Promise<Kernels> {
  switch (name) {
    case 'wasm':
      return createWasmKernels({ memoryBytes: options.memoryBytes ?? NODE_WASM_MEMORY_BYTES })
    case 'ts':
      return createReferenceKernels()
    default:
      throw new Error(`unknown backend ${JSON.stringify(name)} (choose one of ${BACKENDS.join(', ')})`)
  }
}
