// Tokenizer and chat template from a model folder's tokenizer.json / tokenizer_config.json
// (spec §5), wrapping @huggingface/tokenizers and @huggingface/jinja; plus incremental detokenizing.
// Must not import: worker/, Node built-ins.
import { Template } from '@huggingface/jinja'
import { Tokenizer } from '@huggingface/tokenizers'
import type { CheckpointSource } from './checkpoint.ts'
import { BadCheckpoint } from './errors.ts'

export interface ChatMessage {
  readonly role: string
  readonly content: string
}

export class HymbaTokenizer {
  private readonly template: Template | null

  private constructor(
    private readonly tokenizer: Tokenizer,
    chatTemplate: string | null,
    readonly bosId: number,
    readonly eosId: number,
  ) {
    this.template = chatTemplate ? new Template(chatTemplate) : null
  }

  static fromJson(tokenizerJson: object, tokenizerConfig: Record<string, unknown>): HymbaTokenizer {
    const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig)
    const id = (field: string, fallback: number) => {
      const token = tokenizerConfig[field]
      return (typeof token === 'string' ? tokenizer.token_to_id(token) : undefined) ?? fallback
    }
    const template = typeof tokenizerConfig['chat_template'] === 'string' ? (tokenizerConfig['chat_template'] as string) : null
    return new HymbaTokenizer(tokenizer, template, id('bos_token', 1), id('eos_token', 2))
  }

  static async fromSource(source: CheckpointSource): Promise<HymbaTokenizer> {
    const json = async (file: string) => {
      try {
        return JSON.parse(new TextDecoder().decode(await source.read(file)))
      } catch (err) {
        throw new BadCheckpoint(`${source.name}/${file}`, `cannot parse: ${(err as Error).message}`)
      }
    }
    return HymbaTokenizer.fromJson(await json('tokenizer.json'), await json('tokenizer_config.json'))
  }

  /** Token ids of `text`; BOS first unless addBos is false (spec §5: add_bos_token). */
  encode(text: string, options: { addBos?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: options.addBos ?? true }).ids
  }

  /** Text of `ids`, special tokens skipped. */
  decode(ids: readonly number[]): string {
    return this.tokenizer.decode([...ids], { skip_special_tokens: true })
  }

  get hasChatTemplate(): boolean {
    return this.template !== null
  }

  /** The chat template rendered (it adds no BOS; encode its output with addBos: false). */
  applyChatTemplate(messages: readonly ChatMessage[], options: { addGenerationPrompt?: boolean } = {}): string {
    if (!this.template) throw new BadCheckpoint('tokenizer_config.json', 'no chat_template')
    return this.template.render({ messages, add_generation_prompt: options.addGenerationPrompt ?? true })
  }
}

/**
 * Turns a growing list of generated ids into text deltas. Byte-fallback pieces can split a UTF-8
 * character over several tokens: text ending in U+FFFD is held back until it completes. The ids are
 * decoded behind an anchor token, so the decoder's "strip one leading space" (spec §5) applies to the
 * anchor, and a continuation keeps the space its first token carries ("▁that" → " that").
 */
export class TextStream {
  private readonly ids: number[]
  private readonly anchorText: string
  private emitted = ''

  constructor(private readonly tokenizer: HymbaTokenizer) {
    this.ids = tokenizer.encode('a', { addBos: false }).slice(0, 1)
    this.anchorText = tokenizer.decode(this.ids)
  }

  private decoded(): string {
    return this.tokenizer.decode(this.ids).slice(this.anchorText.length)
  }

  /** Add one id; returns the new text that is now certain (possibly ''). */
  push(id: number): string {
    this.ids.push(id)
    const text = this.decoded()
    if (text.endsWith('\uFFFD') || !text.startsWith(this.emitted)) return ''
    const delta = text.slice(this.emitted.length)
    this.emitted = text
    return delta
  }

  /** Whatever is still held back (at the end of generation). */
  flush(): string {
    const text = this.decoded()
    const delta = text.startsWith(this.emitted) ? text.slice(this.emitted.length) : ''
    this.emitted = text
    return delta
  }

  get text(): string {
    return this.emitted
  }
}
