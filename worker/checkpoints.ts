// Prefix reuse (issue 4 item 3). Mamba state cannot be rewound, so a session keeps whole states at
// points it may be asked to continue from: the end of the last prompt (with its next-token logits, so
// a regenerated reply is fully cached) and the end of the last reply. A new prompt continues from the
// longest checkpoint whose tokens are a prefix of it; with none, from the shared meta-token prefix.
// Must not import: hono, cloudflare:*.
import type { HymbaState } from '../src/state.ts'

export interface Checkpoint {
  readonly kind: 'prompt' | 'reply'
  readonly ids: readonly number[] // the text tokens `state` has processed
  readonly state: HymbaState
  /** Next-token logits [V] after `ids`; kept for the prompt checkpoint only. */
  readonly logits: Float32Array | null
}

export function isPrefix(prefix: readonly number[], ids: readonly number[]): boolean {
  if (prefix.length > ids.length) return false
  for (let i = 0; i < prefix.length; i++) if (prefix[i] !== ids[i]) return false
  return true
}

/**
 * The checkpoint to continue `ids` from: the longest whose tokens prefix `ids`. One that covers all of
 * `ids` is usable only with its logits (there is no token left to compute them from).
 */
export function bestCheckpoint(checkpoints: readonly Checkpoint[], ids: readonly number[]): Checkpoint | null {
  let best: Checkpoint | null = null
  for (const c of checkpoints) {
    if (c.ids.length === 0 || !isPrefix(c.ids, ids)) continue
    if (c.ids.length === ids.length && !c.logits) continue
    if (!best || c.ids.length > best.ids.length) best = c
  }
  return best
}

export function disposeAll(checkpoints: readonly Checkpoint[]): void {
  for (const c of checkpoints) c.state.dispose()
}
