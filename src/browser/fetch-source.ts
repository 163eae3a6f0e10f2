// A CheckpointSource over HTTP: a model folder (HF checkpoint or converted bundle) read file by file
// with fetch(), as the browser downloads it from the worker (GET /v1/model-files/:file) or a test server.
// Must not import: worker/, Node built-ins.
import type { CheckpointSource } from '../checkpoint.ts'
import { BadCheckpoint } from '../errors.ts'

export interface FetchSourceOptions {
  /** Extra request headers (an API key). */
  readonly headers?: Readonly<Record<string, string>>
  /** Called after each file has arrived, with its size. */
  readonly onFile?: (file: string, bytes: number) => void
}

/** `base` is the folder's URL; it must end in '/'. */
export function fetchSource(base: string | URL, options: FetchSourceOptions = {}): CheckpointSource {
  const root = new URL(base, globalThis.location?.href)
  if (!root.pathname.endsWith('/')) throw new TypeError(`fetchSource: ${root.href} must end in '/'`)
  const url = (file: string) => new URL(encodeURIComponent(file), root)
  return {
    name: root.href,
    async read(file) {
      const response = await fetch(url(file), { headers: options.headers })
      if (!response.ok) {
        await response.body?.cancel()
        throw new BadCheckpoint(url(file).href, `cannot download: HTTP ${response.status}`)
      }
      const bytes = new Uint8Array(await response.arrayBuffer())
      options.onFile?.(file, bytes.byteLength)
      return bytes
    },
    async exists(file) {
      const response = await fetch(url(file), { method: 'HEAD', headers: options.headers })
      await response.body?.cancel()
      return response.ok
    },
  }
}
