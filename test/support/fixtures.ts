// Test support: the reference fixtures in ../shared/reference (logits of NVIDIA's code) and
// helpers that compare float arrays with a readable failure message.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseFixture, type Fixture } from './fixture-format.ts'

export const SHARED = process.env.HYMBA_SHARED ?? join(import.meta.dirname, '..', '..', '..', 'shared')
export const fixtureDir = (name: string) => join(SHARED, 'reference', name)

export { argmaxRows, parseFixture, type Fixture } from './fixture-format.ts'

export function readFixture(name: string): Fixture {
  const file = join(fixtureDir(name), 'cases.safetensors')
  return parseFixture(file, new Uint8Array(readFileSync(file)))
}

/** Max |a − b| and where it occurs. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; index: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} ≠ ${b.length}`)
  let max = 0
  let index = -1
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i])
    if (!(d <= max)) {
      max = d
      index = i
    }
  }
  return { max, index }
}

/** Throws with the first bad index, both values and the max error when |a − b| > tol anywhere. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`)
  const { max, index } = maxDiff(actual, expected)
  if (!(max <= tol)) {
    let first = 0
    while (!(Math.abs(actual[first] - expected[first]) <= tol)) first++
    throw new Error(`${what}: first bad index ${first}: ${actual[first]} vs ${expected[first]}; max error ${max} at ${index} (tol ${tol})`)
  }
}
