// Test-only fault injection (issue 5 item 2): a storage write that fails half-way, to prove a session
// record is replaced whole or not at all. Enabled only by the TEST_FAULTS binding, which wrangler.toml
// never sets (test/worker-harness.ts passes it to Miniflare); without it every hook is inert.
// Format: comma-separated `name=value`; known: `fail-store-write=N` (the N-th record write of each
// Durable Object instance throws after its chunks are written, before its header).
// Must not import: src/, hono, other worker modules.

export interface StoreFaults {
  /** Called inside the write transaction once the chunks are in; throws to simulate a failed write. */
  afterChunks(): void
}

export class InjectedFault extends Error {
  override readonly name = 'InjectedFault'
}

/** The store hooks for one Durable Object instance, or null when TEST_FAULTS asks for none. */
export function storeFaults(spec: string | undefined): StoreFaults | null {
  const failAt = Number(settings(spec).get('fail-store-write'))
  if (!Number.isSafeInteger(failAt) || failAt < 1) return null
  let writes = 0
  return {
    afterChunks() {
      if (++writes === failAt) throw new InjectedFault(`injected failure of record write ${failAt}`)
    },
  }
}

function settings(spec: string | undefined): Map<string, string> {
  const map = new Map<string, string>()
  for (const item of (spec ?? '').split(',')) {
    const [name, value] = item.split('=').map((s) => s.trim())
    if (name && value) map.set(name, value)
  }
  return map
}
