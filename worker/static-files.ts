// Read-only files from the static-assets binding for the chat page's run-in-your-browser mode (issue 6):
// the model folder (GET /v1/model-files/:file, behind the API keys like the rest of /v1) and the browser
// bundle that scripts/build-browser.ts writes to models/web/ (GET /web/:file).
// Must not import: src/ (the core), hono.
import { ApiError } from './errors.ts'

// The assets binding ignores the host; any absolute URL addresses the asset by its path.
const ORIGIN = 'https://assets.invalid'
// One file of one folder: no '/', no leading dot, so no path can leave the folder.
const FILE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/

/**
 * The asset `dir/file`, or a 404. ETag revalidation (If-None-Match → 304) with `Cache-Control: no-cache`:
 * browsers keep the files and ask each time whether they changed, since a deploy can replace the model
 * under the same names. `shared` false marks the response private (the API has keys).
 */
export async function serveAsset(assets: Fetcher, dir: string, file: string, request: Request, shared: boolean): Promise<Response> {
  const notFound = () => new ApiError(404, `No file '${file}'`, 'not_found_error', 'file_not_found')
  if (!FILE_NAME.test(file)) throw notFound()
  const headers = new Headers()
  const etag = request.headers.get('if-none-match')
  if (etag) headers.set('if-none-match', etag)
  const asset = await assets.fetch(`${ORIGIN}/${dir}/${file}`, { method: request.method === 'HEAD' ? 'HEAD' : 'GET', headers })
  if (asset.status !== 200 && asset.status !== 304) {
    await asset.body?.cancel()
    throw notFound()
  }
  const response = new Response(asset.body, asset)
  response.headers.set('cache-control', `${shared ? 'public' : 'private'}, no-cache`)
  if (file.endsWith('.js')) response.headers.set('content-type', 'text/javascript; charset=utf-8')
  return response
}
