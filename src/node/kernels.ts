// Backend selection for Node programs (CLI, scripts, tests): by name.
// Must not import: worker/.
import type { Kernels } from '../backend.ts'
import { createReferenceKernels } from '../reference/kernels.ts'

export const BACKENDS = ['ts'] as const
export type BackendName = (typeof BACKENDS)[number]

export async function createKernels(name: string = 'ts'): Promise<Kernels> {
  switch (name) {
    case 'ts':
      return createReferenceKernels()
    default:
      throw new Error(`unknown backend ${JSON.stringify(name)} (choose one of ${BACKENDS.join(', ')})`)
  }
}
