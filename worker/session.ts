// The Durable Object of one chat session (issue 4 item 2): it runs the model for its session, keeps the
// checkpoints in memory while warm, persists them after every turn in one transaction, and serialises
// requests through a promise queue.
//
// Turn semantics: a turn commits when generation finishes (stop or length): the new checkpoints are
// written to storage, then replace the ones in memory, then the final event is sent. A turn that fails
// or is aborted (client disconnect) is rolled back entirely: storage and memory keep the previous turn.
// Must not import: hono (routes live in app.ts).
import { DurableObject } from 'cloudflare:workers'
import { BadState } from '../src/errors.ts'
import { bestCheckpoint, disposeAll, type Checkpoint } from './checkpoints.ts'
import { engineFor, type Engine } from './engine.ts'
import { limitsOf, type Env } from './env.ts'
import { ApiError, toApiError, type WireError } from './errors.ts'
import { storeFaults } from './faults.ts'
import { SessionStore, StoredRecordError } from './store.ts'
import { encodeEvent, type TurnEvent, type TurnParams, type TurnRequest } from './turn.ts'
import { KernelOutOfMemory } from '../wasm/loader.ts'
import { dropWarm, shedWarm, touchWarm } from './warm.ts'

export type TurnResult = { readonly ok: true; readonly stream: ReadableStream<Uint8Array> } | { readonly ok: false; readonly error: WireError }

export interface SessionInfo {
  readonly model: string
  readonly tokens: number // tokens held by the longest checkpoint
  readonly stateBytes: number // bytes stored (states and logits)
  readonly created: number // ms since epoch
  readonly updated: number
  readonly turns: number
  readonly checkpoints: readonly { readonly kind: Checkpoint['kind']; readonly tokens: number }[]
}

interface StoredMeta {
  readonly checkpoints: readonly { readonly kind: Checkpoint['kind']; readonly ids: readonly number[]; readonly logits: boolean }[]
}

export class SessionObject extends DurableObject<Env> {
  private readonly store: SessionStore
  private tail: Promise<unknown> = Promise.resolve()
  private queued = 0 // turns waiting or running
  /** A turn of this session is admitted (worker/turn-gate.ts) and may be using the checkpoints. */
  private busy = false
  /** In-memory checkpoints; null when not loaded (new object, or evicted from the warm budget). */
  private held: Checkpoint[] | null = null

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    this.store = new SessionStore(ctx.storage, storeFaults(env.TEST_FAULTS))
  }

  /** Start a turn. Errors found before it is queued (limits, prompt) come back as `ok: false`. */
  async turn(request: TurnRequest): Promise<TurnResult> {
    const limits = limitsOf(this.env)
    if (this.queued >= limits.maxQueuedPerSession)
      return { ok: false, error: new ApiError(429, `This session already has ${this.queued} requests in progress or queued; retry later`, 'rate_limit_error', 'session_busy').toWire() }
    this.queued++ // taken before the first await, so concurrent calls cannot all pass the check above
    try {
      const engine = await engineFor(this.env, limits)
      const ids = engine.promptIds(request.prompt, limits)
      const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>()
      const writer = writable.getWriter()
      const abort = new AbortController()
      const emit = (event: TurnEvent) => this.send(writer, event, abort, limits.streamStallMs)
      this.enqueue(() => this.runTurn(engine, ids, request.params, emit, abort.signal), true)
        .catch((err: unknown) => (abort.signal.aborted ? undefined : emit({ type: 'error', error: this.wireError(err) })))
        .finally(() => writer.close().catch(() => {}))
      return { ok: true, stream: readable }
    } catch (err) {
      this.queued--
      return { ok: false, error: this.wireError(err) }
    }
  }

  /** What the session holds, or null if it has never committed a turn. */
  async info(): Promise<SessionInfo | null> {
    const header = this.store.header()
    if (!header) return null
    const meta = header.meta as StoredMeta
    return {
      model: header.model,
      tokens: Math.max(0, ...meta.checkpoints.map((c) => c.ids.length)),
      stateBytes: header.parts.reduce((sum, p) => sum + p.bytes, 0),
      created: header.created,
      updated: header.updated,
      turns: header.turns,
      checkpoints: meta.checkpoints.map((c) => ({ kind: c.kind, tokens: c.ids.length })),
    }
  }

  /** Delete the session after the turns queued before this call; false if there was nothing. */
  async remove(): Promise<boolean> {
    return this.enqueue(async () => {
      const existed = this.store.header() !== null
      await this.store.clear()
      this.forget()
      return existed
    })
  }

  /**
   * Write one event. A client disconnect shows up as a cancelled stream where the runtime propagates
   * it, and otherwise as a consumer that stops reading (workerd does not always cancel the response of
   * a gone client, and the write then waits forever): both abort the turn, which rolls it back.
   */
  private async send(writer: WritableStreamDefaultWriter<Uint8Array>, event: TurnEvent, abort: AbortController, stallMs: number): Promise<void> {
    if (abort.signal.aborted) return
    let timer: ReturnType<typeof setTimeout> | undefined
    const stalled = new Promise<'stalled'>((resolve) => (timer = setTimeout(() => resolve('stalled'), stallMs)))
    try {
      const outcome = await Promise.race([writer.write(encodeEvent(event)).then(() => 'written' as const), stalled])
      if (outcome === 'stalled') {
        abort.abort(new Error(`the client took no event for ${stallMs} ms`))
        writer.abort(abort.signal.reason).catch(() => {})
      }
    } catch {
      abort.abort(new Error('the client went away'))
    } finally {
      clearTimeout(timer)
    }
  }

  /** Run `task` after the queued ones; `counted` when the caller has already counted it in `queued`. */
  private enqueue<T>(task: () => Promise<T>, counted = false): Promise<T> {
    if (!counted) this.queued++
    const run = this.tail.then(task)
    this.tail = run.then(
      () => this.queued--,
      () => this.queued--,
    )
    return run
  }

  private async runTurn(engine: Engine, ids: number[], params: TurnParams, emit: (e: TurnEvent) => Promise<void>, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted() // the client left while the turn was queued
    const leave = await engine.admit(signal)
    this.busy = true
    let emitted = false
    const tracked = (event: TurnEvent) => ((emitted = true), emit(event))
    try {
      await this.runAdmittedTurn(engine, ids, params, tracked, signal)
    } catch (err) {
      if (!(err instanceof KernelOutOfMemory)) throw err
      // The WASM memory ran out (warm states of idle sessions fill what running turns do not use):
      // idle sessions drop theirs, and a turn that has sent nothing yet runs once more.
      shedWarm()
      if (emitted) throw err
      await this.runAdmittedTurn(engine, ids, params, emit, signal)
    } finally {
      this.busy = false
      leave()
    }
  }

  private async runAdmittedTurn(engine: Engine, ids: number[], params: TurnParams, emit: (e: TurnEvent) => Promise<void>, signal: AbortSignal): Promise<void> {
    const held = await this.checkpoints(engine)
    const base = bestCheckpoint(held, ids)
    const cached = base ? base.ids.length : 0
    const work = base ? base.state.fork() : engine.freshState()
    let prompt: Checkpoint | null = null
    try {
      const logits = base && cached === ids.length ? base.logits!.slice() : engine.advance(work, ids.slice(cached))
      prompt = { kind: 'prompt', ids, state: work.fork(), logits: logits.slice() }
      await emit({ type: 'start', promptTokens: ids.length, cachedTokens: cached })
      const tokens = engine.generate(work, logits, params, signal)
      let step = await tokens.next()
      for (; !step.done; step = await tokens.next()) await emit(step.value)
      const { finishReason, generated } = step.value
      signal.throwIfAborted()
      // The state holds the prompt and every generated token but the last (src/generate.ts).
      const replyIds = [...ids, ...generated].slice(0, work.textTokens)
      if (replyIds.length !== work.textTokens) throw new BadState(`state holds ${work.textTokens} tokens, the turn produced ${replyIds.length}`)
      const next: Checkpoint[] = [prompt]
      if (replyIds.length > ids.length) next.push({ kind: 'reply', ids: replyIds, state: work, logits: null })
      else work.dispose()
      await this.commit(engine, next)
      await emit({ type: 'end', finishReason, completionTokens: generated.length })
    } catch (err) {
      work.dispose()
      prompt?.state.dispose()
      throw err
    }
  }

  /** The checkpoints in memory, restored from storage when the object was evicted or restarted. */
  private async checkpoints(engine: Engine): Promise<Checkpoint[]> {
    if (this.held) return this.held
    let record
    try {
      record = await this.store.read()
    } catch (err) {
      if (err instanceof StoredRecordError) throw new ApiError(500, `stored session state is unreadable (${err.message}); DELETE the session to start over`, 'server_error', 'bad_session_state')
      throw err
    }
    const held: Checkpoint[] = []
    // A record of another model (MODEL_ID changed) cannot be continued; the conversation is always
    // re-sent, so the session simply starts again from the meta-token prefix.
    if (record && record.header.model === engine.modelId) {
      try {
        for (const c of (record.header.meta as StoredMeta).checkpoints) {
          const state = engine.restoreState(record.parts.get(`${c.kind}.state`)!)
          const logitBytes = c.logits ? record.parts.get(`${c.kind}.logits`)! : null
          held.push({ kind: c.kind, ids: c.ids, state, logits: logitBytes ? new Float32Array(logitBytes.slice().buffer) : null })
        }
      } catch (err) {
        disposeAll(held)
        throw err
      }
    }
    this.keep(held)
    return held
  }

  private async commit(engine: Engine, next: Checkpoint[]): Promise<void> {
    const parts: { name: string; data: Uint8Array }[] = []
    for (const c of next) {
      parts.push({ name: `${c.kind}.state`, data: c.state.serialize() })
      if (c.logits) parts.push({ name: `${c.kind}.logits`, data: new Uint8Array(c.logits.buffer, c.logits.byteOffset, c.logits.byteLength) })
    }
    const meta: StoredMeta = { checkpoints: next.map((c) => ({ kind: c.kind, ids: c.ids, logits: c.logits !== null })) }
    try {
      await this.store.write({ model: engine.modelId, meta, now: Date.now() }, parts)
    } catch (err) {
      // The transaction rolled back: storage and memory still hold the previous turn (issue 5 item 2).
      console.error('session write failed:', err)
      throw new ApiError(503, 'The session could not be saved and is unchanged; retry the request', 'server_error', 'session_write_failed')
    }
    this.forget()
    this.keep(next)
  }

  /** The error for the client; unexpected server faults are logged here, since only their wire form leaves. */
  private wireError(err: unknown): WireError {
    const error = toApiError(err)
    if (error.status >= 500 && !(err instanceof ApiError)) console.error('session turn failed:', err)
    return error.toWire()
  }

  private keep(checkpoints: Checkpoint[]): void {
    this.held = checkpoints
    const bytes = checkpoints.reduce((sum, c) => sum + c.state.byteLength + (c.logits?.byteLength ?? 0), 0)
    touchWarm(this, bytes, () => {
      // Only a running turn protects them: one still waiting for admission restores them when it runs
      // (with every session of a burst waiting, protecting those too would outgrow the budget).
      if (this.busy) return false
      if (this.held === checkpoints) {
        disposeAll(checkpoints)
        this.held = null
      }
      return true
    })
  }

  private forget(): void {
    if (this.held) disposeAll(this.held)
    this.held = null
    dropWarm(this)
  }
}
