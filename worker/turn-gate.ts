// Admission of turns in one isolate (issue 5 item 4). Every session of an isolate shares one fixed WASM
// memory and one thread; turns interleave token by token (worker/engine.ts), and each holds working
// states while it runs, so without a bound a burst of sessions runs the memory out (503 out_of_memory,
// seen at 50 concurrent sessions). At most `limit` turns run at once; the rest wait in arrival order.
// Must not import: src/, hono, cloudflare:*.

export class TurnGate {
  private running = 0
  private readonly waiting: (() => void)[] = []

  constructor(private readonly limit: number) {}

  /** Wait for a place; the returned function gives it back. Rejects if `signal` aborts while waiting. */
  async enter(signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted()
    if (this.running < this.limit) this.running++
    else
      await new Promise<void>((resolve, reject) => {
        const admit = () => {
          signal.removeEventListener('abort', leaveQueue)
          resolve()
        }
        const leaveQueue = () => {
          this.waiting.splice(this.waiting.indexOf(admit), 1)
          reject(signal.reason)
        }
        this.waiting.push(admit)
        signal.addEventListener('abort', leaveQueue, { once: true })
      })
    let left = false
    return () => {
      if (left) return
      left = true
      const next = this.waiting.shift()
      if (next) next() // the place passes on: `running` stays
      else this.running--
    }
  }
}
