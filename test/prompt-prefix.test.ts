import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClipBackbone } from '../src/backbones/clip/model.js';
import type { TowerHooks } from '../src/backbones/types.js';
import { createRandom } from '../src/runtime/random.js';
import { tinyBackbone } from './fixtures/tiny-task.js';

let backbone: ClipBackbone;

beforeAll(() => {
  backbone = tinyBackbone(5);
});

afterAll(() => backbone.dispose());

/** Largest absolute difference divided by the largest magnitude of `expected`. */
function relativeDifference(actual: tf.Tensor, expected: tf.Tensor): number {
  return tf.tidy(() => {
    const difference = tf.max(tf.abs(tf.sub(actual, expected))).dataSync()[0] as number;
    const scale = tf.max(tf.abs(expected)).dataSync()[0] as number;
    return difference / scale;
  });
}

function randomTensor(shape: number[], seed: number, std = 0.2): tf.Tensor {
  const random = createRandom(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => std * random.normal()), shape);
}

/** Token embeddings of suffix rows: class-name tokens, EOT, then padding, as a prompt module builds them. */
function suffixInputs(names: readonly string[], suffixTokens: number): { suffixes: tf.Tensor3D; lengths: number[] } {
  const { tokenizer } = backbone;
  const rows = names.map((name) => [...tokenizer.encode(`${name}.`), tokenizer.eotId]);
  const ids = new Int32Array(names.length * suffixTokens);
  rows.forEach((row, i) => ids.set(row, i * suffixTokens));
  const suffixes = tf.tidy(() => backbone.embedTokens(tf.tensor2d(ids, [names.length, suffixTokens], 'int32')));
  return { suffixes, lengths: rows.map((row) => row.length) };
}

/** The concatenation the shared-prefix path must reproduce: each prefix followed by each suffix. */
function concatenated(prefixes: tf.Tensor3D, suffixes: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const [prefixCount, prefixTokens, width] = prefixes.shape;
    const [suffixCount, suffixTokens] = suffixes.shape;
    const repeatedPrefixes = tf.reshape(tf.tile(tf.expandDims(prefixes, 1), [1, suffixCount, 1, 1]), [prefixCount * suffixCount, prefixTokens, width]);
    const repeatedSuffixes = tf.tile(suffixes, [prefixCount, 1, 1]);
    return tf.concat([repeatedPrefixes, repeatedSuffixes], 1) as tf.Tensor3D;
  });
}

describe('EOT truncation', () => {
  it('matches the uncut sequence', () => {
    const contextLength = backbone.dims.contextLength;
    const batch = backbone.tokenize(['a photo of a cat', 'dog', 'a red bird']);
    const ids = tf.tensor2d(batch.ids, [batch.n, contextLength], 'int32');
    const embeddings = backbone.embedTokens(ids);
    const before = tf.memory().numTensors;

    // Alone, the three rows are cut after their last EOT. Next to a fourth row whose EOT sits at the last
    // position, nothing is cut. Rows do not interact, so the first three rows must not change.
    const cut = backbone.encodeTextEmbeddings(embeddings, batch.eot);
    const uncut = tf.tidy(() => {
      const filler = randomTensor([1, contextLength, backbone.dims.textWidth], 3) as tf.Tensor3D;
      const features = backbone.encodeTextEmbeddings(tf.concat([embeddings, filler], 0) as tf.Tensor3D, [...batch.eot, contextLength - 1]);
      return tf.slice(features, [0, 0], [batch.n, -1]);
    });
    expect(Math.max(...batch.eot) + 1).toBeLessThan(contextLength);
    expect(relativeDifference(cut, uncut)).toBeLessThan(1e-5);

    tf.dispose([cut, uncut]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([ids, embeddings]);
  });
});

describe('shared prefix', () => {
  const names = ['cat', 'dog', 'red apple', 'a red bird'];
  const prefixTokens = 5;
  const suffixTokens = 8;

  function inputs(prefixCount: number, seed: number) {
    const { suffixes, lengths } = suffixInputs(names, suffixTokens);
    const width = backbone.dims.textWidth;
    // Start-of-text followed by random context tokens, as in CoOp.
    const prefixes = tf.tidy(() => {
      const sot = backbone.embedTokens(tf.fill([prefixCount, 1], backbone.tokenizer.sotId, 'int32') as tf.Tensor2D);
      return tf.concat([sot, randomTensor([prefixCount, prefixTokens - 1, width], seed)], 1) as tf.Tensor3D;
    });
    const eot = lengths.map((length) => prefixTokens + length - 1);
    return { prefixes, suffixes, eot, full: concatenated(prefixes, suffixes) };
  }

  it('matches the concatenated sequences', () => {
    const { prefixes, suffixes, eot, full } = inputs(1, 11);
    const before = tf.memory().numTensors;
    const shared = backbone.encodeTextWithSharedPrefix(prefixes, suffixes, eot);
    const plain = backbone.encodeTextEmbeddings(full, eot);
    expect(shared.shape).toEqual([names.length, backbone.dims.embedDim]);
    expect(relativeDifference(shared, plain)).toBeLessThan(1e-5);
    tf.dispose([shared, plain]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([prefixes, suffixes, full]);
  });

  it('pairs several prefixes with every suffix', () => {
    const { prefixes, suffixes, eot, full } = inputs(3, 12);
    const shared = backbone.encodeTextWithSharedPrefix(prefixes, suffixes, eot);
    const plain = backbone.encodeTextEmbeddings(full, [...eot, ...eot, ...eot]);
    expect(shared.shape).toEqual([3 * names.length, backbone.dims.embedDim]);
    expect(relativeDifference(shared, plain)).toBeLessThan(1e-5);
    tf.dispose([shared, plain, prefixes, suffixes, full]);
  });

  it('gives the same prefix gradient', () => {
    const { prefixes, suffixes, eot } = inputs(1, 13);
    const weights = randomTensor([names.length, backbone.dims.embedDim], 14, 1);
    const before = tf.memory().numTensors;
    const objective = (features: tf.Tensor2D) => tf.sum(tf.mul(features, weights)) as tf.Scalar;

    const sharedGradient = tf.grad((p: tf.Tensor) => objective(backbone.encodeTextWithSharedPrefix(p as tf.Tensor3D, suffixes, eot)))(prefixes);
    const plainGradient = tf.grad((p: tf.Tensor) => objective(backbone.encodeTextEmbeddings(concatenated(p as tf.Tensor3D, suffixes), eot)))(prefixes);
    expect(relativeDifference(sharedGradient, plainGradient)).toBeLessThan(1e-5);

    tf.dispose([sharedGradient, plainGradient]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([prefixes, suffixes, weights]);
  });

  it('applies row-wise projection deltas and output transforms', () => {
    const { prefixes, suffixes, eot, full } = inputs(2, 15);
    const width = backbone.dims.textWidth;
    const down = randomTensor([width, 2], 16) as tf.Tensor2D;
    const up = randomTensor([2, width], 17) as tf.Tensor2D;
    // A low-rank delta on the value projections, the way LoRA attaches.
    const hooks: TowerHooks = {
      projectionDelta: (site, input) => (site.projection === 'v' ? (tf.matMul(tf.matMul(input, down), up) as tf.Tensor2D) : undefined),
      outputTransform: (features) => tf.mul(features, 1.5) as tf.Tensor2D,
    };
    const shared = backbone.encodeTextWithSharedPrefix(prefixes, suffixes, eot, hooks);
    const plain = backbone.encodeTextEmbeddings(full, [...eot, ...eot], hooks);
    const withoutHooks = backbone.encodeTextEmbeddings(full, [...eot, ...eot]);
    expect(relativeDifference(shared, plain)).toBeLessThan(1e-5);
    expect(relativeDifference(shared, withoutHooks)).toBeGreaterThan(1e-2);
    tf.dispose([shared, plain, withoutHooks, prefixes, suffixes, full, down, up]);
  });

  it('rejects an EOT inside the prefix', () => {
    const { prefixes, suffixes, eot, full } = inputs(1, 18);
    const inPrefix = [prefixTokens - 1, ...eot.slice(1)];
    expect(() => backbone.encodeTextWithSharedPrefix(prefixes, suffixes, inPrefix)).toThrow(/EOT position 4 of suffix 0 is outside the suffix \(5\.\.12\)/);
    tf.dispose([prefixes, suffixes, full]);
  });

  it('rejects an input prompt hook', () => {
    const { prefixes, suffixes, eot, full } = inputs(1, 19);
    const hooks: TowerHooks = { inputPrompt: () => undefined };
    expect(() => backbone.encodeTextWithSharedPrefix(prefixes, suffixes, eot, hooks)).toThrow(/does not support inputPrompt/);
    tf.dispose([prefixes, suffixes, full]);
  });

  it('rejects a width mismatch', () => {
    const prefixes = tf.zeros([1, 3, 8]) as tf.Tensor3D;
    const suffixes = tf.zeros([2, 4, 8]) as tf.Tensor3D;
    expect(() => backbone.encodeTextWithSharedPrefix(prefixes, suffixes, [4, 5])).toThrow(/width 8.*text tower has width 32/);
    tf.dispose([prefixes, suffixes]);
  });
});
