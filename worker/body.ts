// Reading a JSON request body under the size limit: 413 beyond it (Content-Length or the bytes
// actually sent), 400 for anything that is not one JSON value; and draining bodies left unread.
// Must not import: src/, hono.
import { ApiError } from './errors.ts'

export async function readJson(request: Request, maxBytes: number): Promise<unknown> {
  const tooLarge = () => new ApiError(413, `The request body exceeds ${maxBytes} bytes`, 'invalid_request_error', 'body_too_large')
  const declared = Number(request.headers.get('content-length') ?? NaN)
  if (declared > maxBytes) throw tooLarge()
  if (!request.body) throw new ApiError(400, 'The request has no body; send a JSON object', 'invalid_request_error', 'invalid_json')
  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > maxBytes) {
      reader.releaseLock() // the entry point drains the rest (discardUnread), so the connection survives
      throw tooLarge()
    }
    chunks.push(value)
  }
  const bytes = new Uint8Array(size)
  let at = 0
  for (const chunk of chunks) {
    bytes.set(chunk, at)
    at += chunk.byteLength
  }
  try {
    return JSON.parse(new TextDecoder().decode(bytes))
  } catch {
    throw new ApiError(400, 'The request body is not valid JSON', 'invalid_request_error', 'invalid_json')
  }
}

/**
 * Read and drop the part of a request body that the response did not need (a 401, 404, 413 or
 * validation error sent before the body was read), up to `maxBytes`. workerd resets a keep-alive
 * connection whose request body is left unread, which breaks the client's request (or its next one)
 * on it; a body beyond `maxBytes` is not worth reading, and its connection closes.
 */
export async function discardUnread(request: Request, maxBytes: number): Promise<void> {
  if (!request.body || request.bodyUsed) return
  const reader = request.body.getReader()
  try {
    for (let size = 0; ; ) {
      const { value, done } = await reader.read()
      if (done) return
      size += value.byteLength
      if (size > maxBytes) return void (await reader.cancel())
    }
  } catch {
    // The client went away: nothing left to keep.
  }
}
