// The attention window rule (spec §2.4, §3.2), as one pure function: batched prefill lets a
// sliding-window query see W+1 text keys, cached decode (and append) only W.
// Must not import: anything but config types.
import type { LayerPlan } from './config.ts'

/** 'prefill': one batched pass over a fresh prompt; 'decode': continuing through the cache. */
export type WindowRule = 'prefill' | 'decode'

/**
 * How far back (in positions) a text key may lie and stay visible; Infinity for global layers.
 * Prefill: q − k ≤ W. Decode: the cache keeps W − 1 old entries plus the new one, so q − k ≤ W − 1.
 */
export function attentionSpan(window: LayerPlan['window'], W: number, rule: WindowRule): number {
  if (window === 'global') return Infinity
  return rule === 'prefill' ? W : W - 1
}

/** Whether the key at packed position kpos is visible to the query at qpos (M meta tokens). */
export function isVisible(qpos: number, kpos: number, metaTokens: number, span: number): boolean {
  return kpos <= qpos && (kpos < metaTokens || qpos - kpos <= span)
}
