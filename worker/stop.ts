// OpenAI `stop` strings over streamed text: text that could still become a stop string is held back;
// once one appears, the text before it is released and generation ends (the stop string is not sent).
// Must not import: anything (pure).

export class StopMatcher {
  private pending = ''

  constructor(private readonly stops: readonly string[]) {}

  /** Add new text; returns what is safe to show now and whether a stop string was found. */
  push(text: string): { text: string; stopped: boolean } {
    this.pending += text
    let cut = -1
    for (const stop of this.stops) {
      const at = this.pending.indexOf(stop)
      if (at >= 0 && (cut < 0 || at < cut)) cut = at
    }
    if (cut >= 0) {
      const visible = this.pending.slice(0, cut)
      this.pending = ''
      return { text: visible, stopped: true }
    }
    const hold = this.heldLength()
    const visible = this.pending.slice(0, this.pending.length - hold)
    this.pending = this.pending.slice(this.pending.length - hold)
    return { text: visible, stopped: false }
  }

  /** Generation ended without a stop string: everything held back is released. */
  end(text: string): { text: string; stopped: boolean } {
    const result = this.push(text)
    if (result.stopped) return result
    const rest = result.text + this.pending
    this.pending = ''
    return { text: rest, stopped: false }
  }

  /** Length of the longest suffix of `pending` that is a proper prefix of some stop string. */
  private heldLength(): number {
    let hold = 0
    for (const stop of this.stops)
      for (let n = Math.min(stop.length - 1, this.pending.length); n > hold; n--)
        if (this.pending.endsWith(stop.slice(0, n))) {
          hold = n
          break
        }
    return hold
  }
}
