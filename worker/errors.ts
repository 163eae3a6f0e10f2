// OpenAI-style errors: the one class routes and the session throw, and the mapping of everything else
// (core errors from src/errors.ts, unexpected failures) to `{ error: { message, type, param, code } }`.
// Must not import: hono, cloudflare:* (the session and the app both use it).
import { BadCheckpoint, BadState, HymbaError, InvalidInput, UnsupportedConfig } from '../src/errors.ts'
import { KernelOutOfMemory } from '../wasm/loader.ts'

export type ErrorType = 'invalid_request_error' | 'authentication_error' | 'not_found_error' | 'rate_limit_error' | 'server_error'

export interface ErrorBody {
  readonly error: { readonly message: string; readonly type: ErrorType; readonly param: string | null; readonly code: string | null }
}

export type ErrorStatus = 400 | 401 | 404 | 405 | 413 | 429 | 500 | 503

/** An error meant for the client: its status and body are final. */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor(
    readonly status: ErrorStatus,
    message: string,
    readonly type: ErrorType = 'invalid_request_error',
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message)
  }

  get body(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } }
  }

  static fromWire(wire: WireError): ApiError {
    const e = wire.body.error
    return new ApiError(wire.status, e.message, e.type, e.code, e.param)
  }

  /** Plain data, so it crosses Durable Object RPC intact (an Error loses its fields there). */
  toWire(): WireError {
    return { status: this.status, body: this.body }
  }
}

export interface WireError {
  readonly status: ErrorStatus
  readonly body: ErrorBody
}

/**
 * Any thrown value as an ApiError. Core errors keep their message only when it is about the request;
 * model and state failures are reported without file paths or stacks (issue 5: no internals in errors).
 */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err
  if (err instanceof InvalidInput) return new ApiError(400, err.message, 'invalid_request_error', 'invalid_input')
  if (err instanceof BadCheckpoint || err instanceof UnsupportedConfig) return new ApiError(503, 'the model could not be loaded', 'server_error', 'model_unavailable')
  if (err instanceof KernelOutOfMemory) return new ApiError(503, 'the model is out of memory for states; retry shortly', 'server_error', 'out_of_memory')
  if (err instanceof BadState) return new ApiError(500, 'stored session state is unreadable', 'server_error', 'bad_session_state')
  if (err instanceof HymbaError) return new ApiError(500, 'the model failed', 'server_error', 'model_error')
  return new ApiError(500, 'internal error', 'server_error', 'internal_error')
}
