// The isolate-wide budget for session states kept in memory. Every Durable Object of an isolate shares
// its 128 MB with the model; a session that commits a turn registers its bytes here, and the least
// recently used sessions beyond the budget drop their in-memory states (they stay in storage and are
// restored on their next turn).
// Must not import: src/, hono.

/** Bytes of session states kept in memory per isolate (see docs/worker-api.md, "Memory"). */
export const WARM_STATE_BUDGET = 16 << 20

interface Entry {
  bytes: number
  /** Drop the states; false if the owner is busy with them (it stays, and is asked again later). */
  evict: () => boolean
}

const entries = new Map<object, Entry>() // insertion order = least recently used first

/** `owner` now holds `bytes` in memory; evict others (least recent first) beyond the budget. */
export function touchWarm(owner: object, bytes: number, evict: () => boolean): void {
  entries.delete(owner)
  entries.set(owner, { bytes, evict })
  let total = 0
  for (const e of entries.values()) total += e.bytes
  for (const [other, e] of entries) {
    if (total <= WARM_STATE_BUDGET) break
    if (other === owner || !e.evict()) continue
    entries.delete(other)
    total -= e.bytes
  }
}

export function dropWarm(owner: object): void {
  entries.delete(owner)
}

export function warmBytes(): number {
  let total = 0
  for (const e of entries.values()) total += e.bytes
  return total
}

/** Memory ran out: every owner that is not busy drops its states now. */
export function shedWarm(): void {
  for (const [owner, e] of entries) if (e.evict()) entries.delete(owner)
}
