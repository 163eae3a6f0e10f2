// Typed errors of the Hymba core. The worker maps them to HTTP responses; the core never does.
// Must not import: anything (leaf module).

/** Base class: every error the core throws on purpose. */
export class HymbaError extends Error {
  override readonly name: string = 'HymbaError'
}

/** config.json has a value this implementation does not support (names the field). */
export class UnsupportedConfig extends HymbaError {
  override readonly name = 'UnsupportedConfig'
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super(`config.json: unsupported ${field}: ${detail}`)
  }
}

/** A checkpoint or bundle file is missing, truncated, corrupt or holds a tensor of the wrong shape. */
export class BadCheckpoint extends HymbaError {
  override readonly name = 'BadCheckpoint'
  constructor(
    readonly file: string,
    detail: string,
    readonly tensor?: string,
  ) {
    super(`${file}${tensor ? ` (tensor ${tensor})` : ''}: ${detail}`)
  }
}

/** Serialized session state that cannot be restored (wrong magic, version, model, checksum). */
export class BadState extends HymbaError {
  override readonly name = 'BadState'
}

/** A request to the model that breaks its contract (bad token id, prefill on a used state...). */
export class InvalidInput extends HymbaError {
  override readonly name = 'InvalidInput'
}
