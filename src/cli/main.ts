// The `hymba` command line: logits (fixture parity), ppl (perplexity protocol), generate (text),
// convert (HF folder → bundle).
// Must not import: worker/.
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { convertCheckpoint, GROUPS, type Group } from '../bundle/convert.ts'
import { EMBED_QUANTS, type EmbedQuant } from '../bundle/policy.ts'
import { MAX_FILE_BYTES, QUANTS, type Quant } from '../bundle/format.ts'
import { generate } from '../generate.ts'
import { HymbaError } from '../errors.ts'
import { loadModel } from '../load.ts'
import type { HymbaModel } from '../model.ts'
import { folderSink } from '../node/folder-sink.ts'
import { folderSource } from '../node/folder-source.ts'
import { BACKENDS, createKernels } from '../node/kernels.ts'
import { logProbOf } from '../sampling.ts'
import { HymbaTokenizer, TextStream } from '../tokenizer.ts'
import { parseFlags, UsageError } from './args.ts'

const USAGE = `usage: hymba <command> [options]

commands:
  logits   --model DIR --cases FILE --out FILE [--backend B]
           prefill, decode and full-prefill logits for a fixture's prompt_ids / decode_ids
  ppl      --model DIR --ids FILE.bin --seq N [--json] [--limit CHUNKS] [--backend B]
           perplexity over non-overlapping chunks of N uint16 token ids, each a fresh prefill
  generate --model DIR --prompt TEXT [--max-tokens N] [--temperature T] [--top-p P] [--top-k K]
           [--seed S] [--backend B]   stream a continuation of TEXT to stdout
  convert  --from HF_DIR --to OUT_DIR --quant f32|f16|int8|int4 [--group 32|64] [--embed int4|int8]
           [--file-mib N]   write a bundle (data files ≤ 20 MiB, manifest.json with sha-256) into an
           empty OUT_DIR; --group: columns per scale, default 64; --embed: the
           embedding (tied lm_head) of an int4 bundle, int4 by default, int8 for a little quality at
           twice its size; --file-mib: smaller data files (1–20 MiB), so that loading holds less beside
           the weights

--model DIR takes an HF checkpoint folder or a bundle folder (manifest.json).

backends: wasm (WASM-SIMD, default), ts (plain TypeScript reference)`

const COMMANDS: Record<string, (args: string[]) => Promise<void>> = { logits, ppl, generate: generateCommand, convert }

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  const run = command === undefined ? undefined : COMMANDS[command]
  if (!run) {
    process.stderr.write(`${command === undefined || command === '--help' ? '' : `unknown command ${JSON.stringify(command)}\n`}${USAGE}\n`)
    return command === '--help' ? 0 : 2
  }
  try {
    await run(rest)
    return 0
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`hymba ${command}: ${err.message}\n${USAGE}\n`)
      return 2
    }
    if (err instanceof HymbaError) {
      process.stderr.write(`hymba ${command}: ${err.message}\n`)
      return 1
    }
    throw err
  }
}

async function openModel(dir: string, backend: string | undefined): Promise<HymbaModel> {
  if (backend !== undefined && !(BACKENDS as readonly string[]).includes(backend)) throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}, got ${JSON.stringify(backend)}`)
  return loadModel(folderSource(dir), { kernels: await createKernels(backend) })
}

/** `hymba logits`: the three logits sets of ../shared/reference/README.md, as JSON. */
async function logits(args: string[]): Promise<void> {
  const flags = parseFlags(args, { model: { type: 'string', required: true }, cases: { type: 'string', required: true }, out: { type: 'string', required: true }, backend: { type: 'string' } })
  const cases = JSON.parse(await readFile(flags.cases!, 'utf8')) as { prompt_ids: number[]; decode_ids: number[] }
  if (!Array.isArray(cases.prompt_ids) || !Array.isArray(cases.decode_ids)) throw new UsageError(`${flags.cases}: needs prompt_ids and decode_ids arrays`)
  const model = await openModel(flags.model!, flags.backend)
  const V = model.config.vocabSize
  const rows = (flat: Float32Array) => Array.from({ length: flat.length / V }, (_, r) => Array.from(flat.subarray(r * V, (r + 1) * V)))

  const state = model.newState()
  const prefill = model.prefill(state, cases.prompt_ids, { allLogits: true })
  const decode = cases.decode_ids.map((id) => Array.from(model.decode(state, id)))
  const full = model.prefill(model.newState(), [...cases.prompt_ids, ...cases.decode_ids], { allLogits: true })
  await writeFile(flags.out!, JSON.stringify({ logits_prefill: rows(prefill), logits_decode: decode, logits_full: rows(full) }))
}

/** `hymba ppl`: mean NLL over fresh-prefill chunks, scoring tokens 1..N−1 of each (the model README's protocol). */
async function ppl(args: string[]): Promise<void> {
  const flags = parseFlags(args, {
    model: { type: 'string', required: true },
    ids: { type: 'string', required: true },
    seq: { type: 'number', required: true },
    json: { type: 'boolean' },
    limit: { type: 'number' },
    backend: { type: 'string' },
  })
  const seq = flags.seq!
  if (!Number.isInteger(seq) || seq < 2) throw new UsageError('--seq must be an integer ≥ 2')
  const bytes = await readFile(flags.ids!)
  const ids = new Uint16Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.byteLength / 2))
  const model = await openModel(flags.model!, flags.backend)
  const V = model.config.vocabSize
  const chunks = Math.min(Math.floor(ids.length / seq), flags.limit ?? Infinity)
  let nll = 0
  let tokens = 0
  const started = performance.now()
  for (let c = 0; c < chunks; c++) {
    const chunk = Array.from(ids.subarray(c * seq, (c + 1) * seq))
    const state = model.newState()
    const logits = model.prefill(state, chunk, { allLogits: true })
    state.dispose()
    for (let t = 0; t + 1 < seq; t++) {
      nll -= logProbOf(logits.subarray(t * V, (t + 1) * V), chunk[t + 1])
      tokens++
    }
    const seconds = (performance.now() - started) / 1000
    process.stderr.write(`\rchunk ${c + 1}/${chunks}  nll ${(nll / tokens).toFixed(6)}  ${(((c + 1) * seq) / seconds).toFixed(0)} tok/s`)
  }
  process.stderr.write('\n')
  const result = { nll: nll / tokens, ppl: Math.exp(nll / tokens), tokens }
  process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : `mean NLL ${result.nll.toFixed(6)}  perplexity ${result.ppl.toFixed(3)}  over ${tokens} tokens\n`)
}

/** `hymba generate`: stream a continuation of the prompt. */
async function generateCommand(args: string[]): Promise<void> {
  const flags = parseFlags(args, {
    model: { type: 'string', required: true },
    prompt: { type: 'string', required: true },
    'max-tokens': { type: 'number' },
    temperature: { type: 'number' },
    'top-p': { type: 'number' },
    'top-k': { type: 'number' },
    seed: { type: 'number' },
    backend: { type: 'string' },
  })
  const maxTokens = flags['max-tokens'] ?? 64
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new UsageError('--max-tokens must be a positive integer')
  const model = await openModel(flags.model!, flags.backend)
  const tokenizer = await HymbaTokenizer.fromSource(folderSource(flags.model!))
  const state = model.newState()
  const logits = model.prefill(state, tokenizer.encode(flags.prompt!))
  const text = new TextStream(tokenizer)
  process.stdout.write(flags.prompt!)
  const tokens = generate(model, state, logits, {
    maxTokens,
    temperature: flags.temperature ?? 0.8,
    topP: flags['top-p'],
    topK: flags['top-k'],
    seed: flags.seed,
    stopTokenIds: [tokenizer.eosId],
  })
  for await (const token of tokens) if (token.id !== tokenizer.eosId) process.stdout.write(text.push(token.id))
  process.stdout.write(`${text.flush()}\n`)
}

/** `hymba convert`: an HF checkpoint folder → a bundle folder, with progress on stderr. */
async function convert(args: string[]): Promise<void> {
  const flags = parseFlags(args, { from: { type: 'string', required: true }, to: { type: 'string', required: true }, quant: { type: 'string', required: true }, group: { type: 'number' }, embed: { type: 'string' }, 'file-mib': { type: 'number' } })
  const quant = flags.quant as Quant
  if (!QUANTS.includes(quant)) throw new UsageError(`--quant must be one of ${QUANTS.join(', ')}, got ${JSON.stringify(flags.quant)}`)
  const group = flags.group as Group | undefined
  if (group !== undefined && !GROUPS.includes(group)) throw new UsageError(`--group must be one of ${GROUPS.join(', ')}`)
  const embed = flags.embed as EmbedQuant | undefined
  if (embed !== undefined && !EMBED_QUANTS.includes(embed)) throw new UsageError(`--embed must be one of ${EMBED_QUANTS.join(', ')}`)
  if (embed === 'int4' && quant !== 'int4') throw new UsageError('--embed int4 needs --quant int4')
  const fileMiB = flags['file-mib'] as number | undefined
  if (fileMiB !== undefined && !(Number.isInteger(fileMiB) && fileMiB >= 1 && fileMiB <= MAX_FILE_BYTES / 2 ** 20)) throw new UsageError(`--file-mib must be a whole number of MiB from 1 to ${MAX_FILE_BYTES / 2 ** 20}`)
  const existing = await readdir(flags.to!).catch(() => [])
  if (existing.length > 0) throw new UsageError(`${flags.to} is not empty`)
  const started = performance.now()
  const manifest = await convertCheckpoint(folderSource(flags.from!), await folderSink(flags.to!), {
    quant,
    group,
    embed,
    ...(fileMiB === undefined ? {} : { maxFileBytes: fileMiB * 2 ** 20 }),
    onProgress: ({ done, total, tensor }) => {
      const line = `[${done}/${total}] ${tensor.name} ${tensor.format}${tensor.group ? `/${tensor.group}` : ''}`
      if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${line}`)
      else if (Math.floor((10 * done) / total) > Math.floor((10 * (done - 1)) / total)) process.stderr.write(`${line}\n`) // every 10 %
    },
  })
  const bytes = manifest.files.reduce((sum, f) => sum + f.bytes, 0)
  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}wrote ${flags.to}: ${manifest.tensors.length} tensors, ${manifest.files.length} files, ${(bytes / 2 ** 20).toFixed(1)} MiB in ${seconds} s\n`)
}
