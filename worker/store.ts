// A session's durable record in its Durable Object's SQLite storage: a JSON header (token lists,
// timestamps, part sizes, SHA-256 of the body) and the body (serialized states, logits) split into
// ≤ 1 MiB rows, all written in one `transactionSync` so a record is replaced whole or not at all
// (issue 4 item 2: values are capped at 2 MB).
// Must not import: src/ (it stores bytes, not states), hono.
import type { StoreFaults } from './faults.ts'

export const CHUNK_BYTES = 1 << 20
const RECORD_VERSION = 1

/** One stored part of the body. */
export interface PartInfo {
  readonly name: string
  readonly bytes: number
}

export interface RecordHeader {
  readonly version: number
  readonly model: string
  readonly created: number // ms since epoch
  readonly updated: number
  readonly turns: number
  /** Free-form JSON of the owner (checkpoint token lists); kept beside the parts. */
  readonly meta: unknown
  readonly parts: readonly PartInfo[]
  readonly sha256: string
}

export interface SessionRecord {
  readonly header: RecordHeader
  readonly parts: ReadonlyMap<string, Uint8Array>
}

export class StoredRecordError extends Error {
  override readonly name = 'StoredRecordError'
}

export class SessionStore {
  /** `faults`: test-only hooks (worker/faults.ts), null in every deployed configuration. */
  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly faults: StoreFaults | null = null,
  ) {}

  private get sql(): SqlStorage {
    return this.storage.sql
  }

  private ensureTables(): void {
    this.sql.exec('CREATE TABLE IF NOT EXISTS record (id INTEGER PRIMARY KEY CHECK (id = 0), header TEXT NOT NULL)')
    this.sql.exec('CREATE TABLE IF NOT EXISTS chunk (seq INTEGER PRIMARY KEY, data BLOB NOT NULL)')
  }

  /** The stored header, or null when the session has never committed a turn. */
  header(): RecordHeader | null {
    this.ensureTables()
    const row = this.sql.exec<{ header: string }>('SELECT header FROM record WHERE id = 0').toArray()[0]
    return row ? (JSON.parse(row.header) as RecordHeader) : null
  }

  /** The whole record, its body checked against the header's length and SHA-256. */
  async read(): Promise<SessionRecord | null> {
    const header = this.header()
    if (!header) return null
    if (header.version !== RECORD_VERSION) throw new StoredRecordError(`record version ${header.version}, expected ${RECORD_VERSION}`)
    const total = header.parts.reduce((sum, p) => sum + p.bytes, 0)
    const body = new Uint8Array(total)
    let at = 0
    for (const row of this.sql.exec<{ data: ArrayBuffer }>('SELECT data FROM chunk ORDER BY seq')) {
      const chunk = new Uint8Array(row.data)
      if (at + chunk.byteLength > total) throw new StoredRecordError('record body is longer than its header says')
      body.set(chunk, at)
      at += chunk.byteLength
    }
    if (at !== total) throw new StoredRecordError(`record body has ${at} bytes, header says ${total}`)
    if ((await sha256(body)) !== header.sha256) throw new StoredRecordError('record body does not match its checksum')
    const parts = new Map<string, Uint8Array>()
    at = 0
    for (const part of header.parts) {
      parts.set(part.name, body.subarray(at, at + part.bytes))
      at += part.bytes
    }
    return { header, parts }
  }

  /** Replace the record atomically. `created` is kept from the previous record when there is one. */
  async write(fields: { model: string; meta: unknown; now: number }, parts: ReadonlyArray<{ name: string; data: Uint8Array }>): Promise<RecordHeader> {
    const total = parts.reduce((sum, p) => sum + p.data.byteLength, 0)
    const body = new Uint8Array(total)
    let at = 0
    for (const part of parts) {
      body.set(part.data, at)
      at += part.data.byteLength
    }
    const digest = await sha256(body)
    return this.storage.transactionSync(() => {
      const previous = this.header()
      const header: RecordHeader = {
        version: RECORD_VERSION,
        model: fields.model,
        created: previous?.created ?? fields.now,
        updated: fields.now,
        turns: (previous?.turns ?? 0) + 1,
        meta: fields.meta,
        parts: parts.map((p) => ({ name: p.name, bytes: p.data.byteLength })),
        sha256: digest,
      }
      this.sql.exec('DELETE FROM chunk')
      for (let seq = 0; seq * CHUNK_BYTES < total; seq++) this.sql.exec('INSERT INTO chunk (seq, data) VALUES (?, ?)', seq, body.slice(seq * CHUNK_BYTES, Math.min(total, (seq + 1) * CHUNK_BYTES)).buffer)
      this.faults?.afterChunks()
      this.sql.exec('INSERT OR REPLACE INTO record (id, header) VALUES (0, ?)', JSON.stringify(header))
      return header
    })
  }

  /** Forget everything. */
  async clear(): Promise<void> {
    await this.storage.deleteAll()
  }
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')
}
