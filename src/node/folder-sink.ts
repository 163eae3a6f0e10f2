// A BundleSink that writes bundle files into a folder on the local file system (`hymba convert`).
// Must not import: worker/.
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { BundleSink } from '../bundle/writer.ts'

export async function folderSink(dir: string): Promise<BundleSink> {
  await mkdir(dir, { recursive: true })
  return { write: (name, bytes) => writeFile(join(dir, name), bytes) }
}
