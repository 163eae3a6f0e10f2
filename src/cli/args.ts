// Minimal argument parsing for the `hymba` CLI: `--name value` flags with declared types.
// Must not import: worker/.

export class UsageError extends Error {
  override readonly name = 'UsageError'
}

export type FlagSpec = Record<string, { type: 'string' | 'number' | 'boolean'; required?: boolean }>
export type Flags<S extends FlagSpec> = {
  [K in keyof S]: S[K]['type'] extends 'number' ? number : S[K]['type'] extends 'boolean' ? boolean : string
}

/** Parse `args` against `spec`; unknown flags, missing values and bad numbers are UsageErrors. */
export function parseFlags<S extends FlagSpec>(args: readonly string[], spec: S): Partial<Flags<S>> {
  const out: Record<string, unknown> = {}
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`)
    const name = arg.slice(2)
    const flag = spec[name]
    if (!flag) throw new UsageError(`unknown option --${name}`)
    if (flag.type === 'boolean') {
      out[name] = true
      continue
    }
    const value = args[++i]
    if (value === undefined) throw new UsageError(`--${name} needs a value`)
    if (flag.type === 'number') {
      const n = Number(value)
      if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got ${JSON.stringify(value)}`)
      out[name] = n
    } else out[name] = value
  }
  for (const [name, flag] of Object.entries(spec)) if (flag.required && out[name] === undefined) throw new UsageError(`--${name} is required`)
  return out as Partial<Flags<S>>
}
