// The tokenizer (spec §5): reproduces ../shared/data/brown-val/val.bin, round-trips, renders the
// chat template to the token ids measured with transformers, streams text deltas.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { folderSource } from '../src/node/folder-source.ts'
import { HymbaTokenizer, TextStream } from '../src/tokenizer.ts'
import { SHARED } from './support/fixtures.ts'

const tokenizer = await HymbaTokenizer.fromSource(folderSource(join(SHARED, 'models', 'hymba-brown-17m')))
const documents = readFileSync(join(SHARED, 'data', 'brown-val', 'val.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((line) => JSON.parse(line).text as string)

describe('tokenizer', () => {
  it('reproduces val.bin: BOS + encode(text), then EOS, per document', () => {
    const bin = readFileSync(join(SHARED, 'data', 'brown-val', 'val.bin'))
    const expected = Array.from(new Uint16Array(bin.buffer, bin.byteOffset, bin.byteLength / 2))
    const actual = documents.flatMap((text) => [...tokenizer.encode(text), tokenizer.eosId])
    assert.equal(actual.length, expected.length)
    assert.deepEqual(actual, expected)
  })

  it('decoding round-trips every document', () => {
    for (const text of documents) assert.equal(tokenizer.decode(tokenizer.encode(text)), text)
  })

  it('keeps the dummy-prefix behaviour of tokenizer.json for a leading space', () => {
    assert.deepEqual(tokenizer.encode(' Hello'), [1, 29871, 15043])
  })

  it('renders the chat template to the ids measured with transformers (no BOS)', () => {
    const text = tokenizer.applyChatTemplate([
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'What is 2+2?' },
    ])
    assert.equal(text, '<extra_id_0>System\nYou are a helpful assistant.\n\n<extra_id_1>User\nWhat is 2+2?\n<extra_id_1>Assistant\n')
    const ids = '529 17833 29918 333 29918 29900 29958 3924 13 3492 526 263 8444 20255 29889 13 13 29966 17833 29918 333 29918 29896 29958 2659 13 5618 338 29871 29906 29974 29906 29973 13 29966 17833 29918 333 29918 29896 29958 7900 22137 13'
    assert.deepEqual(tokenizer.encode(text, { addBos: false }), ids.split(' ').map(Number))
  })

  it('streams text deltas without splitting a UTF-8 character', () => {
    const text = ' naïve café — 日本 🙂 done' // a continuation keeps the space of its first token
    const ids = tokenizer.encode('naïve café — 日本 🙂 done', { addBos: false })
    const stream = new TextStream(tokenizer)
    const deltas = ids.map((id) => stream.push(id))
    deltas.push(stream.flush())
    assert.equal(deltas.join(''), text)
    assert.ok(deltas.every((d) => !d.includes('\uFFFD')))
  })
})
