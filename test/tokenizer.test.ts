import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanClipText,
  clipTokenizerFromJson,
  clipTokenizerFromVocabMerges,
  loadClipTokenizer,
  TokenizerError,
  type ClipTokenizer,
} from '../src/backbones/tokenizer.js';
import { buildTinyClipVocab, writeTinyTokenizer } from './fixtures/tiny-tokenizer.js';

const sentences = [
  'a photo of a cat.',
  'A  Photo\tOF a DOG!!',
  '  red apple 123  ',
  'café au lait',
  'cafe\u0301 again',
  'an emoji 🐱 of a cat',
  "it's a bird's nest",
  '',
];

let root: string;
const tokenizers: Record<'hf' | 'openai' | 'bpe-simple', ClipTokenizer> = {} as never;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'vlm-compat-tokenizer-'));
  for (const layout of ['hf', 'openai', 'bpe-simple'] as const) {
    await writeTinyTokenizer(join(root, layout), layout);
    tokenizers[layout] = await loadClipTokenizer(join(root, layout));
  }
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function expectTokenizerError(promise: Promise<unknown>, code: string, ...fragments: string[]): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TokenizerError);
  expect((error as TokenizerError).code).toBe(code);
  for (const fragment of fragments) expect((error as Error).message).toContain(fragment);
}

describe('loadClipTokenizer layouts', () => {
  it('reports the layout kind', () => {
    expect(tokenizers.hf.source.kind).toBe('tokenizer.json');
    expect(tokenizers.openai.source.kind).toBe('vocab.json+merges.txt');
    expect(tokenizers['bpe-simple'].source.kind).toBe('bpe_simple_vocab_16e6.txt');
  });

  it('gives the same ids in every layout', () => {
    for (const text of sentences) {
      const reference = tokenizers.hf.encode(text);
      expect(tokenizers.openai.encode(text), text).toEqual(reference);
      expect(tokenizers['bpe-simple'].encode(text), text).toEqual(reference);
    }
  });

  it('agrees on vocabulary size and special ids', () => {
    const size = Object.keys(buildTinyClipVocab().vocab).length;
    for (const tokenizer of Object.values(tokenizers)) {
      expect(tokenizer.vocabSize).toBe(size);
      expect(tokenizer.sotId).toBe(size - 2);
      expect(tokenizer.eotId).toBe(size - 1);
    }
  });

  it('hashes the file bytes', () => {
    for (const tokenizer of Object.values(tokenizers)) expect(tokenizer.source.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(tokenizers.hf.source.sha256).not.toBe(tokenizers.openai.source.sha256);
  });

  it('hashes identical files identically', async () => {
    const again = join(root, 'hf-again');
    await writeTinyTokenizer(again, 'hf');
    expect((await loadClipTokenizer(again)).source.sha256).toBe(tokenizers.hf.source.sha256);
  });

  it('prefers tokenizer.json when both layouts exist', async () => {
    const both = join(root, 'both');
    await writeTinyTokenizer(both, 'openai');
    await writeTinyTokenizer(both, 'hf');
    expect((await loadClipTokenizer(both)).source.kind).toBe('tokenizer.json');
  });
});

describe('ClipTokenizer.encode', () => {
  // Ids follow CLIP's vocabulary order: 256 byte symbols ("!" is 0, "a" is 64), the same with "</w>" from 256,
  // then one token per merge from 512. The fixture's merges 517 "c a" and 521 "ca t</w>" build "cat</w>".
  it('encodes a merged word as one token', () => {
    expect(tokenizers.openai.encode('cat')).toEqual([521]);
    expect(tokenizers.openai.idsToTokens([521])).toEqual(['cat</w>']);
  });

  it('encodes a word without its final merge in pieces', () => {
    // "cats": "c a" applies, but only "ca t</w>" exists, not "ca t", so "t" and "s</w>" stay apart.
    expect(tokenizers.openai.idsToTokens(tokenizers.openai.encode('cats'))).toEqual(['ca', 't', 's</w>']);
    expect(tokenizers.openai.encode('cats')).toEqual([517, 83, 338]);
  });

  it('matches CLIP ids for single bytes', () => {
    expect(tokenizers.hf.encode('a')).toEqual([320]);
    expect(tokenizers.hf.encode('.')).toEqual([269]);
    expect(tokenizers.hf.encode('!!')).toEqual([0, 256]);
  });

  it('lower-cases and collapses whitespace', () => {
    expect(tokenizers.hf.encode('  A \n\t PHOTO  ')).toEqual(tokenizers.hf.encode('a photo'));
  });

  it('splits digits one by one', () => {
    expect(tokenizers.hf.idsToTokens(tokenizers.hf.encode('2024'))).toEqual(['2</w>', '0</w>', '2</w>', '4</w>']);
  });

  it('splits contractions', () => {
    expect(tokenizers.hf.idsToTokens(tokenizers.hf.encode("it's"))).toEqual(['i', 't</w>', "'", 's</w>']);
  });

  it('encodes multi-byte characters as bytes', () => {
    expect(tokenizers.hf.idsToTokens(tokenizers.hf.encode('café'))).toEqual(['cafÃ©</w>']);
    expect(tokenizers.hf.encode('🐱')).toHaveLength(4);
  });

  it('composes decomposed accents', () => {
    expect(tokenizers.hf.encode('cafe\u0301')).toEqual(tokenizers.hf.encode('café'));
  });

  it('returns nothing for blank text', () => {
    expect(tokenizers.hf.encode(' \t ')).toEqual([]);
  });
});

describe('ClipTokenizer.tokenize', () => {
  it('frames rows with SOT and EOT', () => {
    const tokenizer = tokenizers.hf;
    const batch = tokenizer.tokenize(['a photo of a cat', 'dog'], 10);
    expect(batch.n).toBe(2);
    expect(batch.contextLength).toBe(10);
    expect(batch.ids).toHaveLength(20);
    for (let row = 0; row < 2; row++) {
      const ids = batch.ids.subarray(row * 10, row * 10 + 10);
      expect(ids[0]).toBe(tokenizer.sotId);
      expect(ids[batch.eot[row] as number]).toBe(tokenizer.eotId);
      expect(batch.lengths[row]).toBe((batch.eot[row] as number) + 1);
      expect(Array.from(ids.subarray(batch.lengths[row]))).toEqual(new Array(10 - (batch.lengths[row] as number)).fill(0));
    }
  });

  it('places the BPE ids between SOT and EOT', () => {
    const batch = tokenizers.hf.tokenize(['a photo of a cat'], 10);
    expect(Array.from(batch.ids.subarray(1, batch.eot[0]))).toEqual(tokenizers.hf.encode('a photo of a cat'));
    expect(batch.eot[0]).toBe(6);
    expect(batch.truncated[0]).toBe(false);
  });

  it('keeps EOT last when truncating', () => {
    const tokenizer = tokenizers.hf;
    const text = 'a photo of a red apple in a café';
    const batch = tokenizer.tokenize([text, 'dog'], 5);
    expect(Array.from(batch.ids.subarray(0, 5))).toEqual([tokenizer.sotId, ...tokenizer.encode(text).slice(0, 3), tokenizer.eotId]);
    expect(batch.eot[0]).toBe(4);
    expect(batch.lengths[0]).toBe(5);
    expect(batch.truncated[0]).toBe(true);
    expect(batch.truncated[1]).toBe(false);
  });

  it('does not truncate an exact fit', () => {
    const batch = tokenizers.hf.tokenize(['a photo of'], 5);
    expect(batch.truncated[0]).toBe(false);
    expect(batch.eot[0]).toBe(4);
  });

  it('accepts the minimum context length', () => {
    const batch = tokenizers.hf.tokenize(['a photo'], 2);
    expect(Array.from(batch.ids)).toEqual([tokenizers.hf.sotId, tokenizers.hf.eotId]);
    expect(batch.truncated[0]).toBe(true);
  });

  it('tokenizes an empty batch', () => {
    const batch = tokenizers.hf.tokenize([], 77);
    expect(batch.n).toBe(0);
    expect(batch.ids).toHaveLength(0);
  });

  it('rejects a context length below 2', () => {
    expect(() => tokenizers.hf.tokenize(['a'], 1)).toThrow(/contextLength must be an integer of at least 2.*got 1/);
  });

  it('rejects a fractional context length', () => {
    expect(() => tokenizers.hf.tokenize(['a'], 7.5)).toThrow(TokenizerError);
  });
});

describe('ClipTokenizer.idsToTokens', () => {
  it('names special tokens', () => {
    const tokenizer = tokenizers.openai;
    expect(tokenizer.idsToTokens([tokenizer.sotId, tokenizer.eotId])).toEqual(['<|startoftext|>', '<|endoftext|>']);
  });

  it('rejects an unknown id', () => {
    expect(() => tokenizers.openai.idsToTokens([100000])).toThrow(/Token id 100000 is not in the vocabulary/);
  });
});

describe('clipTokenizerFromJson and clipTokenizerFromVocabMerges', () => {
  it('build the same tokenizer as the files', () => {
    const { vocab, merges, tokenizerJson } = buildTinyClipVocab();
    const fromJson = clipTokenizerFromJson(tokenizerJson);
    const fromPair = clipTokenizerFromVocabMerges(vocab, merges);
    for (const text of sentences) {
      expect(fromJson.encode(text), text).toEqual(tokenizers.hf.encode(text));
      expect(fromPair.encode(text), text).toEqual(tokenizers.hf.encode(text));
    }
  });

  it('use a given sha256', () => {
    const { vocab, merges } = buildTinyClipVocab();
    expect(clipTokenizerFromVocabMerges(vocab, merges, 'abc').source.sha256).toBe('abc');
  });

  it('reject a vocabulary without SOT', () => {
    const { vocab, merges } = buildTinyClipVocab();
    const { ['<|startoftext|>']: _removed, ...withoutSot } = vocab;
    expect(() => clipTokenizerFromVocabMerges(withoutSot, merges)).toThrow(/no <\|startoftext\|> token/);
  });

  it('reject a tokenizer.json without EOT', () => {
    const { tokenizerJson } = buildTinyClipVocab();
    const json = structuredClone(tokenizerJson) as { added_tokens: Array<{ content: string }>; model: { vocab: Record<string, number> } };
    json.added_tokens = json.added_tokens.filter((t) => t.content !== '<|endoftext|>');
    delete json.model.vocab['<|endoftext|>'];
    expect(() => clipTokenizerFromJson(json)).toThrow(/no <\|endoftext\|> token/);
  });

  it('reject a vocabulary missing a byte symbol', () => {
    const { vocab, merges } = buildTinyClipVocab();
    const { ['z</w>']: _removed, ...withoutByte } = vocab;
    expect(() => clipTokenizerFromVocabMerges(withoutByte, merges)).toThrow(/lacks the byte-level token "z<\/w>"/);
  });

  it('reject merges that the vocabulary lacks', () => {
    const { vocab, merges } = buildTinyClipVocab();
    expect(() => clipTokenizerFromVocabMerges(vocab, `${merges}q z\n`)).toThrow(/"qz", which is not in vocab/);
  });

  it('reject a malformed merge line', () => {
    const { vocab } = buildTinyClipVocab();
    expect(() => clipTokenizerFromVocabMerges(vocab, '#version: 0.2\nc a t\n')).toThrow(/merges line 2 is "c a t"/);
  });

  it('reject a non-CLIP BPE suffix', () => {
    const { tokenizerJson } = buildTinyClipVocab();
    const json = structuredClone(tokenizerJson) as { model: { end_of_word_suffix: string | null } };
    json.model.end_of_word_suffix = null;
    expect(() => clipTokenizerFromJson(json)).toThrow(/end_of_word_suffix null/);
  });
});

describe('loadClipTokenizer errors', () => {
  it('names a missing folder', async () => {
    const folder = join(root, 'no-such-folder');
    await expectTokenizerError(loadClipTokenizer(folder), 'folder-not-found', folder);
  });

  it('lists the files looked for', async () => {
    const folder = join(root, 'empty');
    await mkdir(folder);
    await expectTokenizerError(loadClipTokenizer(folder), 'files-not-found', folder, 'tokenizer.json', 'vocab.json', 'merges.txt');
  });

  it('names the missing half of a pair', async () => {
    const folder = join(root, 'vocab-only');
    await mkdir(folder);
    await writeFile(join(folder, 'vocab.json'), JSON.stringify(buildTinyClipVocab().vocab));
    await expectTokenizerError(loadClipTokenizer(folder), 'files-not-found', 'has vocab.json but merges.txt is missing');
  });

  it('names a malformed tokenizer.json', async () => {
    const folder = join(root, 'malformed');
    await mkdir(folder);
    await writeFile(join(folder, 'tokenizer.json'), '{"model": ');
    await expectTokenizerError(loadClipTokenizer(folder), 'invalid-json', join(folder, 'tokenizer.json'));
  });

  it('names a vocab.json without specials', async () => {
    const folder = join(root, 'no-specials');
    const { vocab, merges } = buildTinyClipVocab();
    const plain = Object.fromEntries(Object.entries(vocab).filter(([token]) => !token.startsWith('<|')));
    await mkdir(folder);
    await writeFile(join(folder, 'vocab.json'), JSON.stringify(plain));
    await writeFile(join(folder, 'merges.txt'), merges);
    await expectTokenizerError(loadClipTokenizer(folder), 'missing-special-token', join(folder, 'vocab.json'), '<|startoftext|>');
  });

  it('names a corrupt gzip file', async () => {
    const folder = join(root, 'bad-gzip');
    await mkdir(folder);
    await writeFile(join(folder, 'bpe_simple_vocab_16e6.txt.gz'), 'not gzip');
    await expectTokenizerError(loadClipTokenizer(folder), 'invalid-format', 'bpe_simple_vocab_16e6.txt.gz');
  });
});

describe('cleanClipText', () => {
  it('trims, collapses and lower-cases', () => {
    expect(cleanClipText('  A\u00a0 Photo\n\nOF ')).toBe('a photo of');
  });
});
