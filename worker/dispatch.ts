// Where a turn runs: with a session_id, in that session's Durable Object (named tenant:session_id);
// without, in this isolate from the meta-token prefix. Either way the caller gets turn events and a
// way to cancel them (client disconnect). Every turn holds one of its API key's slots until it ends.
// Must not import: hono.
import { engineFor } from './engine.ts'
import type { Env, Limits } from './env.ts'
import { ApiError } from './errors.ts'
import { takeKeySlot } from './key-slots.ts'
import type { SessionObject } from './session.ts'
import { decodeEvents, type TurnEvent, type TurnRequest } from './turn.ts'

export interface TurnStream {
  readonly events: AsyncGenerator<TurnEvent>
  /** Stop the turn: the session rolls it back. */
  cancel(): void
}

export function sessionStub(env: Env, tenant: string, sessionId: string): DurableObjectStub<SessionObject> {
  return env.SESSIONS.get(env.SESSIONS.idFromName(`${tenant}:${sessionId}`))
}

export async function startTurn(env: Env, limits: Limits, tenant: string, sessionId: string | undefined, turn: TurnRequest): Promise<TurnStream> {
  const release = await takeKeySlot(env, limits, tenant)
  try {
    return holdingSlot(await openTurn(env, limits, tenant, sessionId, turn), release)
  } catch (err) {
    await release()
    throw err
  }
}

/** The slot goes back at the turn's last event, when its events are dropped, or on cancel. */
function holdingSlot(turn: TurnStream, release: () => Promise<void>): TurnStream {
  async function* events(): AsyncGenerator<TurnEvent> {
    try {
      for await (const event of turn.events) {
        if (event.type === 'end' || event.type === 'error') await release()
        yield event
      }
    } finally {
      await release()
    }
  }
  return {
    events: events(),
    cancel: () => {
      turn.cancel()
      void release()
    },
  }
}

async function openTurn(env: Env, limits: Limits, tenant: string, sessionId: string | undefined, turn: TurnRequest): Promise<TurnStream> {
  if (sessionId) {
    const result = await sessionStub(env, tenant, sessionId).turn(turn)
    if (!result.ok) throw ApiError.fromWire(result.error)
    const stream = result.stream as ReadableStream<Uint8Array>
    const reader = stream.getReader()
    return { events: decodeEvents(reader), cancel: () => void reader.cancel().catch(() => {}) }
  }
  const engine = await engineFor(env, limits)
  const ids = engine.promptIds(turn.prompt, limits)
  const abort = new AbortController()
  return { events: engine.oneShot(ids, turn.params, abort.signal), cancel: () => abort.abort(new Error('the client went away')) }
}
