// A CheckpointSource over the Workers static-assets binding: the embedded model folder (models/ in the
// repo, wrangler.toml [assets]) read file by file through `env.ASSETS.fetch`.
// Must not import: hono, other worker modules (it is the core's interface, implemented for Workers).
import type { CheckpointSource } from '../src/checkpoint.ts'
import { BadCheckpoint } from '../src/errors.ts'

// The assets binding ignores the host; any absolute URL addresses the asset by its path.
const ORIGIN = 'https://assets.invalid'

export function assetsSource(assets: Fetcher, dir: string): CheckpointSource {
  const url = (file: string) => `${ORIGIN}/${dir}/${file}`
  return {
    name: `assets:/${dir}`,
    async read(file) {
      const response = await assets.fetch(url(file))
      if (!response.ok) {
        await response.body?.cancel()
        throw new BadCheckpoint(`${dir}/${file}`, `not readable from static assets (HTTP ${response.status})`)
      }
      return new Uint8Array(await response.arrayBuffer())
    },
    async exists(file) {
      const response = await assets.fetch(url(file), { method: 'HEAD' })
      await response.body?.cancel()
      return response.ok
    },
  }
}
