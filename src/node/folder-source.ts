// A CheckpointSource over a folder on the local file system (CLI, tests, scripts).
// Must not import: worker/.
import { readFile, access } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { CheckpointSource } from '../checkpoint.ts'
import { BadCheckpoint } from '../errors.ts'

export function folderSource(dir: string): CheckpointSource {
  const root = resolve(dir)
  return {
    name: root,
    async read(file) {
      try {
        const bytes = await readFile(join(root, file))
        return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) // a view: no second copy of a 20 MiB file
      } catch (err) {
        throw new BadCheckpoint(join(root, file), `cannot read: ${(err as Error).message}`)
      }
    },
    async exists(file) {
      return access(join(root, file)).then(
        () => true,
        () => false,
      )
    },
  }
}
