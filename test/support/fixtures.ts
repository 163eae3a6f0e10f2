// Test support in Node: the reference fixtures in ../shared/reference (logits of NVIDIA's code), read
// from disk; parsing and the float comparisons live in fixture-format.ts (no Node built-ins).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseFixture, type Fixture } from './fixture-format.ts'

export const SHARED = process.env.HYMBA_SHARED ?? join(import.meta.dirname, '..', '..', '..', 'shared')
export const fixtureDir = (name: string) => join(SHARED, 'reference', name)

export { argmaxRows, expectClose, maxDiff, parseFixture, type Fixture } from './fixture-format.ts'

export function readFixture(name: string): Fixture {
  const file = join(fixtureDir(name), 'cases.safetensors')
  return parseFixture(file, new Uint8Array(readFileSync(file)))
}
