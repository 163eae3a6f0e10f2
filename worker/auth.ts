// API keys (issue 4 item 6): when the API_KEYS secret holds keys, every /v1 request needs
// `Authorization: Bearer <key>`, and its sessions live in a namespace derived from the key's hash, so
// one key can never reach another key's session. Without keys the API is open: namespace 'public'.
// Must not import: src/, hono.
import type { Env } from './env.ts'
import { ApiError } from './errors.ts'

/** The tenant (session namespace) of a request, or a 401. */
export async function tenantOf(env: Env, authorization: string | undefined): Promise<string> {
  const keys = (env.API_KEYS ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean)
  if (keys.length === 0) return 'public'
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')
  if (!match) throw new ApiError(401, 'Missing API key: send Authorization: Bearer <key>', 'authentication_error', 'missing_api_key')
  const presented = await sha256Hex(match[1]!)
  let found = false
  for (const key of keys) found = equalHex(presented, await sha256Hex(key)) || found
  if (!found) throw new ApiError(401, 'Incorrect API key provided', 'authentication_error', 'invalid_api_key')
  return `key-${presented.slice(0, 32)}`
}

async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)))
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')
}

/** Compare in time independent of where the strings differ. */
function equalHex(a: string, b: string): boolean {
  let diff = a.length ^ b.length
  for (let i = 0; i < Math.min(a.length, b.length); i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}
