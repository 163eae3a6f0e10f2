// The per-key concurrency limit (issue 5 item 5): one small Durable Object per API key counts the
// completions in flight for that key across every isolate and machine (an isolate-local counter would
// not: one key's requests land on many isolates). A request takes a lease before its turn starts and
// gives it back when its response ends. A live request renews its lease every RENEW_MS; a lease not
// renewed expires after LEASE_TTL_MS, so a request whose context is torn down (a client disconnect can
// cancel it without any cleanup running) frees its slot within a minute. Leases live in the object's
// SQLite storage and survive eviction.
// Must not import: src/, hono.
import { DurableObject } from 'cloudflare:workers'
import type { Env, Limits } from './env.ts'
import { ApiError } from './errors.ts'

export const LEASE_TTL_MS = 60_000
const RENEW_MS = 20_000

export class KeySlots extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS lease (id TEXT PRIMARY KEY, expires INTEGER NOT NULL)')
  }

  /** A lease id, or null when `limit` leases are held already. */
  acquire(limit: number): string | null {
    const sql = this.ctx.storage.sql
    const now = Date.now()
    sql.exec('DELETE FROM lease WHERE expires <= ?', now)
    const held = sql.exec<{ n: number }>('SELECT count(*) AS n FROM lease').one().n
    if (held >= limit) return null
    const id = crypto.randomUUID()
    sql.exec('INSERT INTO lease (id, expires) VALUES (?, ?)', id, now + LEASE_TTL_MS)
    return id
  }

  renew(id: string): void {
    this.ctx.storage.sql.exec('UPDATE lease SET expires = ? WHERE id = ?', Date.now() + LEASE_TTL_MS, id)
  }

  release(id: string): void {
    this.ctx.storage.sql.exec('DELETE FROM lease WHERE id = ?', id)
  }
}

/**
 * Take one of the tenant's slots; the returned function gives it back (call it once the response has
 * ended, whatever the outcome). The open API (no keys, tenant 'public') has no per-key limit.
 */
export async function takeKeySlot(env: Env, limits: Limits, tenant: string): Promise<() => Promise<void>> {
  if (tenant === 'public') return () => Promise.resolve()
  const stub = env.KEY_SLOTS.get(env.KEY_SLOTS.idFromName(tenant))
  const lease = await stub.acquire(limits.maxConcurrentPerKey)
  if (lease === null)
    throw new ApiError(429, `This API key already has ${limits.maxConcurrentPerKey} requests in progress; retry when one has finished`, 'rate_limit_error', 'too_many_concurrent_requests')
  const renewal = setInterval(() => stub.renew(lease).catch((err: unknown) => console.error('renewing a key slot failed:', err)), RENEW_MS)
  // Every call returns the one release, so a caller that awaits it knows the slot is back (a context
  // that ends while the RPC is in flight would drop it).
  let released: Promise<void> | undefined
  return () =>
    (released ??= (async () => {
      clearInterval(renewal)
      await stub.release(lease).catch((err: unknown) => console.error('releasing a key slot failed (it expires on its own):', err))
    })())
}
