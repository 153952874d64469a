import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Tokenizer } from '@huggingface/tokenizers';
import { sha256Bytes } from '../io/hash.js';
import { getLogger } from '../runtime/logger.js';

/** CLIP's start-of-text token, placed first in every row. */
export const startOfTextToken = '<|startoftext|>';
/** CLIP's end-of-text token. The text tower reads the sentence feature at its position. */
export const endOfTextToken = '<|endoftext|>';

/** The file layout a tokenizer was loaded from. */
export type TokenizerLayout = 'tokenizer.json' | 'vocab.json+merges.txt' | 'bpe_simple_vocab_16e6.txt';

/** Origin of a tokenizer, so that two backbones can be checked for sharing one. */
export interface TokenizerSource {
  /** The file layout it was loaded from. */
  readonly kind: TokenizerLayout;
  /** SHA-256 (hex) of the files' bytes in a fixed order: tokenizer.json alone, vocab.json followed by merges.txt, or the bpe_simple file as stored (gzipped or not). */
  readonly sha256: string;
  /**
   * SHA-256 (hex) of the vocabulary (tokens in id order) and the merges, independent of the file layout: two
   * sources of the same tokenizer in different layouts share it.
   */
  readonly fingerprint: string;
}

/** Token ids for a batch of texts, one fixed-length row per text. */
export interface TokenizedBatch {
  /** [n * contextLength] row-major, padded with 0. */
  readonly ids: Int32Array;
  /** Index of the end-of-text token in each row. */
  readonly eot: readonly number[];
  /** Tokens per row, start- and end-of-text included. */
  readonly lengths: readonly number[];
  /** Number of rows (texts). */
  readonly n: number;
  /** Length of every row, in tokens. */
  readonly contextLength: number;
  /** Whether each row was cut to fit `contextLength`. */
  readonly truncated: readonly boolean[];
}

/** CLIP's byte-level BPE tokenizer. */
export interface ClipTokenizer {
  /** Origin of the tokenizer: layout, file hash and fingerprint. */
  readonly source: TokenizerSource;
  /** One more than the largest token id, which is the row count of the token embedding table. */
  readonly vocabSize: number;
  /** Id of the start-of-text token. */
  readonly sotId: number;
  /** Id of the end-of-text token. */
  readonly eotId: number;
  /** Returns the BPE ids of the cleaned text, without start- and end-of-text tokens. */
  encode(text: string): number[];
  /** Tokenizes each text as start-of-text, BPE ids, end-of-text. A row that does not fit is cut and still ends with end-of-text. */
  tokenize(texts: readonly string[], contextLength: number): TokenizedBatch;
  /** Maps ids back to their BPE token strings; an id outside the vocabulary is a TokenizerError. */
  idsToTokens(ids: readonly number[]): string[];
}

/** Reason a tokenizer could not be loaded or used. */
export type TokenizerErrorCode =
  | 'folder-not-found'
  | 'files-not-found'
  | 'invalid-json'
  | 'invalid-format'
  | 'missing-special-token'
  | 'merge-not-in-vocab'
  | 'invalid-context-length'
  | 'unknown-token-id';

/** Raised by the tokenizer loaders and by {@link ClipTokenizer} methods on invalid input. */
export class TokenizerError extends Error {
  /** Error name: `TokenizerError`. */
  override readonly name = 'TokenizerError';

  constructor(
    /** Kind of failure, for programmatic handling. */
    readonly code: TokenizerErrorCode,
    message: string,
    options?: { readonly cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Cleans text the way CLIP's tokenizer does before BPE: Unicode NFC, whitespace runs collapsed to one space,
 * ends trimmed, lower case.
 */
export function cleanClipText(text: string): string {
  // NOTE: CLIP's reference tokenizer also runs ftfy.fix_text and html.unescape (twice), which have no JS
  // equivalent here, so mojibake and HTML entities such as "&amp;" are tokenized as written.
  return text.normalize('NFC').replace(/\s+/g, ' ').trim().toLowerCase();
}

// The normalizer and pre-tokenizer of HuggingFace's CLIP tokenizer.json. The Split regex is CLIP's word
// pattern without its special-token alternatives, which the library splits out as added tokens.
const clipNormalizer = {
  type: 'Sequence',
  normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
};
const clipPreTokenizer = {
  type: 'Sequence',
  pretokenizers: [
    {
      type: 'Split',
      pattern: { Regex: "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" },
      behavior: 'Removed',
      invert: true,
    },
    { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  ],
};

const endOfWordSuffix = '</w>';

/** Byte-level BPE's 256 base symbols, in the order of GPT-2's bytes_to_unicode (printable bytes first). */
function byteLevelSymbols(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const symbols = printable.map((b) => String.fromCodePoint(b));
  // Bytes without a printable code point of their own get 256, 257, ... in byte order.
  let next = 256;
  for (let b = 0; b < 256; b++) {
    if (!printable.includes(b)) symbols.push(String.fromCodePoint(next++));
  }
  return symbols;
}

interface BpeDefinition {
  readonly vocab: Record<string, number>;
  readonly merges: ReadonlyArray<readonly [string, string]>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TokenizerError('invalid-json', `Malformed JSON in ${file}: ${reason}. Replace the file with an intact copy.`, { cause: error });
  }
}

function checkVocab(vocab: unknown, label: string): Record<string, number> {
  if (!isRecord(vocab)) {
    throw new TokenizerError('invalid-format', `${label} must be an object mapping tokens to ids, got ${Array.isArray(vocab) ? 'an array' : typeof vocab}.`);
  }
  for (const [token, id] of Object.entries(vocab)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new TokenizerError('invalid-format', `${label} maps ${JSON.stringify(token)} to ${JSON.stringify(id)}, but token ids must be non-negative integers.`);
    }
  }
  return vocab as Record<string, number>;
}

/** Parses merges given as "a b" strings or [a, b] pairs. `label(i)` names entry i in error messages. */
function parseMergeEntries(entries: readonly unknown[], label: (i: number) => string): Array<[string, string]> {
  return entries.map((entry, i) => {
    const parts = typeof entry === 'string' ? entry.split(' ') : entry;
    if (!Array.isArray(parts) || parts.length !== 2 || parts.some((p) => typeof p !== 'string' || p === '')) {
      throw new TokenizerError('invalid-format', `${label(i)} is ${JSON.stringify(entry)}, but a merge must be two non-empty symbols, as "a b" or ["a", "b"].`);
    }
    return [parts[0] as string, parts[1] as string];
  });
}

/** Splits merges.txt-style text into merge pairs, skipping a leading "#version" line and blank lines. */
function parseMergesText(text: string, file: string): Array<[string, string]> {
  const lines = text.split(/\r?\n/);
  const first = lines[0] ?? '';
  const start = first.startsWith('#version') ? 1 : 0;
  const numbered = lines.map((line, i) => ({ line, number: i + 1 })).slice(start).filter((entry) => entry.line !== '');
  return parseMergeEntries(
    numbered.map((entry) => entry.line),
    (i) => `${file} line ${numbered[i]?.number}`,
  );
}

/** Checks that both symbols of every merge and their concatenation are in the vocabulary. */
function checkMergesAgainstVocab(bpe: BpeDefinition, mergesLabel: string, vocabLabel: string): void {
  bpe.merges.forEach(([left, right], i) => {
    for (const token of [left, right, left + right]) {
      if (!(token in bpe.vocab)) {
        throw new TokenizerError(
          'merge-not-in-vocab',
          `${mergesLabel} entry ${i + 1} ("${left} ${right}") needs ${JSON.stringify(token)}, which is not in ${vocabLabel}. The merges and the vocabulary must come from the same tokenizer.`,
        );
      }
    }
  });
}

/**
 * Checks that the vocabulary has every byte symbol with and without "</w>". Then no text can produce an unknown
 * piece, which the library would map to the unknown token, `<|endoftext|>`, in the middle of a row.
 */
function checkByteSymbols(vocab: Record<string, number>, label: string): void {
  for (const symbol of byteLevelSymbols()) {
    for (const token of [symbol, symbol + endOfWordSuffix]) {
      if (!(token in vocab)) {
        throw new TokenizerError(
          'invalid-format',
          `${label} lacks the byte-level token ${JSON.stringify(token)}, so it is not a CLIP vocabulary. CLIP vocabularies contain all 256 byte symbols, alone and with "</w>".`,
        );
      }
    }
  }
}

function specialTokenId(vocab: Record<string, number>, addedTokens: ReadonlyArray<{ id: number; content: string }>, token: string, label: string): number {
  const id = addedTokens.find((added) => added.content === token)?.id ?? vocab[token];
  if (id === undefined) {
    throw new TokenizerError(
      'missing-special-token',
      `${label} has no ${token} token. CLIP tokenizers need ${startOfTextToken} and ${endOfTextToken}; use the tokenizer files that ship with the CLIP weights.`,
    );
  }
  return id;
}

function parseAddedTokens(value: unknown, label: string): Array<Record<string, unknown> & { id: number; content: string }> {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new TokenizerError('invalid-format', `${label}.added_tokens must be an array, got ${typeof value}.`);
  return value.map((entry: unknown, i) => {
    if (!isRecord(entry) || typeof entry.content !== 'string' || typeof entry.id !== 'number') {
      throw new TokenizerError('invalid-format', `${label}.added_tokens[${i}] must have a string "content" and a numeric "id".`);
    }
    return entry as Record<string, unknown> & { id: number; content: string };
  });
}

/** Builds the object @huggingface/tokenizers expects, with CLIP's model settings. */
function clipTokenizerDefinition(
  bpe: BpeDefinition,
  addedTokens: readonly object[],
  normalizer: unknown = clipNormalizer,
  preTokenizer: unknown = clipPreTokenizer,
): Record<string, unknown> {
  return {
    added_tokens: addedTokens,
    normalizer,
    pre_tokenizer: preTokenizer,
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: endOfTextToken,
      continuing_subword_prefix: '',
      end_of_word_suffix: endOfWordSuffix,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: bpe.vocab,
      merges: bpe.merges,
    },
  };
}

function specialAddedToken(id: number, content: string): object {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true };
}

/** Computes the layout-independent fingerprint of a vocabulary and its merges. */
function tokenizerFingerprint(vocab: Readonly<Record<string, number>>, merges: ReadonlyArray<readonly [string, string]>): string {
  const tokens = Object.entries(vocab)
    .sort((a, b) => a[1] - b[1])
    .map(([token, id]) => `${id}\t${token}`);
  return sha256Bytes(new TextEncoder().encode(JSON.stringify([tokens, merges])));
}

function createClipTokenizer(
  definition: Record<string, unknown>,
  vocabSize: number,
  sotId: number,
  eotId: number,
  layout: Omit<TokenizerSource, 'fingerprint'>,
): ClipTokenizer {
  // Special tokens are added here, not by the library's post-processor, so that tokenize() controls truncation.
  const library = new Tokenizer(definition, {});
  const model = definition.model as { vocab: Record<string, number>; merges: ReadonlyArray<readonly [string, string]> };
  const source: TokenizerSource = { ...layout, fingerprint: tokenizerFingerprint(model.vocab, model.merges) };

  const encode = (text: string): number[] => library.encode(cleanClipText(text), { add_special_tokens: false }).ids;

  const tokenize = (texts: readonly string[], contextLength: number): TokenizedBatch => {
    if (!Number.isInteger(contextLength) || contextLength < 2) {
      throw new TokenizerError(
        'invalid-context-length',
        `contextLength must be an integer of at least 2 (start- and end-of-text), got ${contextLength}. CLIP models use 77.`,
      );
    }
    const ids = new Int32Array(texts.length * contextLength);
    const eot: number[] = [];
    const lengths: number[] = [];
    const truncated: boolean[] = [];

    texts.forEach((text, row) => {
      const body = encode(text);
      // Keep start-of-text and as much of the body as fits, then always close the row with end-of-text.
      const keptLength = Math.min(body.length, contextLength - 2);
      const offset = row * contextLength;
      ids[offset] = sotId;
      ids.set(body.slice(0, keptLength), offset + 1);
      ids[offset + keptLength + 1] = eotId;
      eot.push(keptLength + 1);
      lengths.push(keptLength + 2);
      truncated.push(keptLength < body.length);
    });

    return { ids, eot, lengths, n: texts.length, contextLength, truncated };
  };

  const idsToTokens = (ids: readonly number[]): string[] =>
    ids.map((id) => {
      const token = library.id_to_token(id);
      if (token === undefined) {
        throw new TokenizerError('unknown-token-id', `Token id ${id} is not in the vocabulary (ids run from 0 to ${vocabSize - 1}).`);
      }
      return token;
    });

  return { source, vocabSize, sotId, eotId, encode, tokenize, idsToTokens };
}

function maxId(vocab: Record<string, number>, addedTokens: ReadonlyArray<{ id: number }>): number {
  let max = -1;
  for (const id of Object.values(vocab)) max = Math.max(max, id);
  for (const added of addedTokens) max = Math.max(max, added.id);
  return max;
}

/** Creates a tokenizer from a vocabulary and merges, adding the two special tokens as added tokens. */
function fromBpe(bpe: BpeDefinition, source: Omit<TokenizerSource, 'fingerprint'>, labels: { vocab: string; merges: string }): ClipTokenizer {
  checkByteSymbols(bpe.vocab, labels.vocab);
  checkMergesAgainstVocab(bpe, labels.merges, labels.vocab);
  const sotId = specialTokenId(bpe.vocab, [], startOfTextToken, labels.vocab);
  const eotId = specialTokenId(bpe.vocab, [], endOfTextToken, labels.vocab);
  const added = [specialAddedToken(sotId, startOfTextToken), specialAddedToken(eotId, endOfTextToken)];
  return createClipTokenizer(clipTokenizerDefinition(bpe, added), maxId(bpe.vocab, []) + 1, sotId, eotId, source);
}

function vocabMergesSha256(vocab: Record<string, number>, merges: string): string {
  return sha256Bytes(new TextEncoder().encode(JSON.stringify(vocab) + merges));
}

function tokenizerFromJson(tokenizerJson: unknown, sha256: string, label: string): ClipTokenizer {
  if (!isRecord(tokenizerJson)) throw new TokenizerError('invalid-format', `${label} must be a JSON object.`);
  const model = tokenizerJson.model;
  if (!isRecord(model)) throw new TokenizerError('invalid-format', `${label} has no "model" object, so it is not a HuggingFace tokenizer.json.`);
  if (model.type !== undefined && model.type !== 'BPE') {
    throw new TokenizerError('invalid-format', `${label} has a ${JSON.stringify(model.type)} model, but CLIP uses "BPE". Use the tokenizer that ships with the CLIP weights.`);
  }
  if (model.end_of_word_suffix !== endOfWordSuffix) {
    throw new TokenizerError(
      'invalid-format',
      `${label} has model.end_of_word_suffix ${JSON.stringify(model.end_of_word_suffix)}, but CLIP's BPE uses "${endOfWordSuffix}", so this is not a CLIP tokenizer.`,
    );
  }
  const vocab = checkVocab(model.vocab, `${label} model.vocab`);
  if (!Array.isArray(model.merges)) throw new TokenizerError('invalid-format', `${label} model.merges must be an array.`);
  const merges = parseMergeEntries(model.merges, (i) => `${label} model.merges[${i}]`);
  checkByteSymbols(vocab, `${label} model.vocab`);
  checkMergesAgainstVocab({ vocab, merges }, `${label} model.merges`, `${label} model.vocab`);

  const addedTokens = parseAddedTokens(tokenizerJson.added_tokens, label);
  const sotId = specialTokenId(vocab, addedTokens, startOfTextToken, label);
  const eotId = specialTokenId(vocab, addedTokens, endOfTextToken, label);
  // A special token that is only in the vocabulary would be split into bytes if the text contained it.
  const added: object[] = [...addedTokens];
  if (!addedTokens.some((t) => t.content === startOfTextToken)) added.push(specialAddedToken(sotId, startOfTextToken));
  if (!addedTokens.some((t) => t.content === endOfTextToken)) added.push(specialAddedToken(eotId, endOfTextToken));

  const logger = getLogger();
  if (tokenizerJson.normalizer == null) logger.warn(`${label} has no normalizer, so CLIP's is used (NFC, whitespace, lower case)`);
  if (tokenizerJson.pre_tokenizer == null) logger.warn(`${label} has no pre_tokenizer, so CLIP's is used (word split, byte level)`);

  const definition = clipTokenizerDefinition({ vocab, merges }, added, tokenizerJson.normalizer ?? clipNormalizer, tokenizerJson.pre_tokenizer ?? clipPreTokenizer);
  return createClipTokenizer(definition, maxId(vocab, addedTokens) + 1, sotId, eotId, { kind: 'tokenizer.json', sha256 });
}

/**
 * Creates a CLIP tokenizer from a parsed HuggingFace tokenizer.json. Without `sha256`, the source hash is taken
 * over `JSON.stringify(tokenizerJson)`, which differs from the hash of the file's bytes.
 */
export function clipTokenizerFromJson(tokenizerJson: unknown, sha256?: string): ClipTokenizer {
  const hash = sha256 ?? sha256Bytes(new TextEncoder().encode(JSON.stringify(tokenizerJson)));
  return tokenizerFromJson(tokenizerJson, hash, 'tokenizer.json object');
}

/**
 * Creates a CLIP tokenizer from a vocab.json object and the text of merges.txt (a leading "#version" line is
 * skipped). Without `sha256`, the source hash is taken over `JSON.stringify(vocab)` followed by `merges`.
 */
export function clipTokenizerFromVocabMerges(vocab: Record<string, number>, merges: string, sha256?: string): ClipTokenizer {
  const checked = checkVocab(vocab, 'vocab');
  const bpe = { vocab: checked, merges: parseMergesText(merges, 'merges') };
  const source: Omit<TokenizerSource, 'fingerprint'> = { kind: 'vocab.json+merges.txt', sha256: sha256 ?? vocabMergesSha256(checked, merges) };
  return fromBpe(bpe, source, { vocab: 'vocab', merges: 'merges' });
}

// OpenAI's SimpleTokenizer keeps the first 49152 - 256 - 2 merges of bpe_simple_vocab_16e6.txt, which with the
// 512 byte symbols and 2 special tokens makes its 49408-token vocabulary.
const bpeSimpleMergeCount = 49152 - 256 - 2;

/** Builds the vocabulary OpenAI's SimpleTokenizer derives from bpe_simple_vocab_16e6.txt: bytes, bytes + "</w>", merges, specials. */
function bpeFromSimpleVocab(text: string, file: string): BpeDefinition {
  // The first line is a version header. The file contains far more merges than CLIP uses.
  const lines = text.split(/\r?\n/).slice(1, bpeSimpleMergeCount + 1).filter((line) => line !== '');
  const merges = parseMergeEntries(lines, (i) => `${file} line ${i + 2}`);
  const symbols = byteLevelSymbols();
  const tokens = [...symbols, ...symbols.map((s) => s + endOfWordSuffix), ...merges.map(([a, b]) => a + b), startOfTextToken, endOfTextToken];
  // As in the reference, a token that appears twice keeps the later id.
  const vocab: Record<string, number> = {};
  tokens.forEach((token, id) => (vocab[token] = id));
  return { vocab, merges };
}

async function readIfPresent(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function gunzipText(bytes: Buffer, path: string): string {
  try {
    return gunzipSync(bytes).toString('utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TokenizerError('invalid-format', `Cannot decompress ${path}: ${reason}. Replace the file with an intact copy.`, { cause: error });
  }
}

const simpleVocabNames = ['bpe_simple_vocab_16e6.txt.gz', 'bpe_simple_vocab_16e6.txt'];

/**
 * Loads CLIP's tokenizer from a folder. The folder contains a HuggingFace tokenizer.json, vocab.json with
 * merges.txt, or OpenAI's bpe_simple_vocab_16e6.txt(.gz), and the first one found in that order is used.
 */
export async function loadClipTokenizer(folder: string): Promise<ClipTokenizer> {
  const folderStat = await stat(folder).catch(() => undefined);
  if (folderStat === undefined || !folderStat.isDirectory()) {
    throw new TokenizerError('folder-not-found', `Tokenizer folder not found: ${folder} is missing or not a directory. Pass the folder that contains tokenizer.json, or vocab.json and merges.txt.`);
  }
  const logger = getLogger();

  const jsonPath = join(folder, 'tokenizer.json');
  const jsonBytes = await readIfPresent(jsonPath);
  if (jsonBytes !== undefined) {
    const tokenizer = tokenizerFromJson(parseJson(jsonBytes.toString('utf8'), jsonPath), sha256Bytes(jsonBytes), jsonPath);
    logger.debug(`loaded CLIP tokenizer from ${jsonPath}`, { vocabSize: tokenizer.vocabSize });
    return tokenizer;
  }

  const vocabPath = join(folder, 'vocab.json');
  const mergesPath = join(folder, 'merges.txt');
  const vocabBytes = await readIfPresent(vocabPath);
  const mergesBytes = await readIfPresent(mergesPath);
  if (vocabBytes !== undefined && mergesBytes !== undefined) {
    const vocab = checkVocab(parseJson(vocabBytes.toString('utf8'), vocabPath), vocabPath);
    const bpe = { vocab, merges: parseMergesText(mergesBytes.toString('utf8'), mergesPath) };
    const source: Omit<TokenizerSource, 'fingerprint'> = { kind: 'vocab.json+merges.txt', sha256: sha256Bytes(Buffer.concat([vocabBytes, mergesBytes])) };
    const tokenizer = fromBpe(bpe, source, { vocab: vocabPath, merges: mergesPath });
    logger.debug(`loaded CLIP tokenizer from ${vocabPath} and ${mergesPath}`, { vocabSize: tokenizer.vocabSize });
    return tokenizer;
  }
  if (vocabBytes !== undefined || mergesBytes !== undefined) {
    const [present, missing] = vocabBytes !== undefined ? ['vocab.json', 'merges.txt'] : ['merges.txt', 'vocab.json'];
    throw new TokenizerError('files-not-found', `Tokenizer folder ${folder} has ${present} but ${missing} is missing. Copy ${missing} from the same tokenizer.`);
  }

  for (const name of simpleVocabNames) {
    const path = join(folder, name);
    const bytes = await readIfPresent(path);
    if (bytes === undefined) continue;
    const text = name.endsWith('.gz') ? gunzipText(bytes, path) : bytes.toString('utf8');
    const tokenizer = fromBpe(bpeFromSimpleVocab(text, path), { kind: 'bpe_simple_vocab_16e6.txt', sha256: sha256Bytes(bytes) }, { vocab: path, merges: path });
    logger.debug(`loaded CLIP tokenizer from ${path}`, { vocabSize: tokenizer.vocabSize });
    return tokenizer;
  }

  throw new TokenizerError(
    'files-not-found',
    `No CLIP tokenizer in ${folder}: looked for tokenizer.json, vocab.json with merges.txt, and ${simpleVocabNames.join(' or ')}. Copy the tokenizer files that ship with the weights into this folder.`,
  );
}
