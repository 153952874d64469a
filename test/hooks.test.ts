import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClipBackbone } from '../src/backbones/clip/model.js';
import { clipTokenizerFromVocabMerges } from '../src/backbones/tokenizer.js';
import { openaiClipPreprocess } from '../src/backbones/preprocess.js';
import type { ProjectionSite } from '../src/backbones/types.js';
import { buildTinyClipVocab } from './fixtures/tiny-tokenizer.js';
import { randomPixels, tinyClipCanonical, tinyClipConfig } from './fixtures/tiny-clip.js';

let backbone: ClipBackbone;

beforeAll(() => {
  const config = tinyClipConfig('gelu');
  const { vocab, merges } = buildTinyClipVocab();
  const identity = { family: 'clip', name: 'tiny', revision: 'test', weightsSha256: '0'.repeat(64) };
  backbone = new ClipBackbone(identity, config, tinyClipCanonical(config, 3), clipTokenizerFromVocabMerges(vocab, merges), openaiClipPreprocess(16));
});

afterAll(() => backbone.dispose());

function diff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

describe('text input hooks', () => {
  it('encodes token embeddings like token ids', () => {
    const batch = backbone.tokenize(['a photo of a dog', 'cat']);
    const fromIds = backbone.encodeText(batch);
    const ids = tf.tensor2d(batch.ids, [batch.n, batch.contextLength], 'int32');
    const embeddings = backbone.embedTokens(ids);
    const fromEmbeddings = backbone.encodeTextEmbeddings(embeddings, batch.eot);
    expect(diff(fromIds, fromEmbeddings)).toBe(0);
    tf.dispose([fromIds, ids, embeddings, fromEmbeddings]);
  });

  it('shifts EOT when prompt tokens are inserted', () => {
    const batch = backbone.tokenize(['cat']);
    const ids = tf.tensor2d(batch.ids, [1, batch.contextLength], 'int32');
    const embeddings = backbone.embedTokens(ids);
    const context = tf.randomNormal([4, backbone.dims.textWidth], 0, 0.2, 'float32', 5) as tf.Tensor2D;

    // Inserting 4 context tokens after SOT must equal writing them into the sequence by hand.
    const inserted = backbone.encodeTextEmbeddings(embeddings, batch.eot, { inputPrompt: () => ({ tokens: context, at: 1, mode: 'insert' }) });
    const manual = tf.tidy(() => {
      const sot = tf.slice(embeddings, [0, 0, 0], [1, 1, -1]);
      const rest = tf.slice(embeddings, [0, 1, 0], [1, batch.contextLength - 5, -1]);
      return backbone.encodeTextEmbeddings(tf.concat([sot, tf.expandDims(context, 0), rest], 1) as tf.Tensor3D, [(batch.eot[0] as number) + 4]);
    });
    expect(diff(inserted, manual)).toBeLessThan(1e-6);
    tf.dispose([ids, embeddings, context, inserted, manual]);
  });

  it('rejects a prompt wider than the tower', () => {
    const batch = backbone.tokenize(['cat']);
    const wrong = tf.zeros([2, 5]) as tf.Tensor2D;
    expect(() => backbone.encodeText(batch, { inputPrompt: () => ({ tokens: wrong, at: 1, mode: 'replace' }) })).toThrow(/width 5.*width 32/);
    wrong.dispose();
  });
});

describe('layer and projection hooks', () => {
  it('passes every projection site of both towers', () => {
    const seen = new Set<string>();
    const record = (site: ProjectionSite) => {
      seen.add(`${site.tower}.${site.layer}.${site.projection}`);
      return undefined;
    };
    const pixels = randomPixels(1, 16);
    tf.dispose([backbone.encodeText(backbone.tokenize(['cat']), { projectionDelta: record }), backbone.encodeImage(pixels, { projectionDelta: record })]);
    pixels.dispose();
    expect(seen.size).toBe(2 * 2 * 6);
    expect(seen.has('vision.1.mlp_out')).toBe(true);
  });

  it('adds a projection delta to the output', () => {
    const batch = backbone.tokenize(['a red apple']);
    const plain = backbone.encodeText(batch);
    const zero = backbone.encodeText(batch, { projectionDelta: (site, input) => tf.zeros([input.shape[0], site.projection === 'mlp_in' ? 64 : 32]) as tf.Tensor2D });
    const shifted = backbone.encodeText(batch, {
      projectionDelta: (site, input) => (site.projection === 'v' && site.layer === 1 ? (tf.fill([input.shape[0], 32], 0.3) as tf.Tensor2D) : undefined),
    });
    expect(diff(plain, zero)).toBe(0);
    expect(diff(plain, shifted)).toBeGreaterThan(1e-4);
    tf.dispose([plain, zero, shifted]);
  });

  it('replaces vision tokens layer by layer without growing the sequence', () => {
    const pixels = randomPixels(2, 16);
    const prompts = tf.randomNormal([2, 24], 0, 1, 'float32', 9) as tf.Tensor2D;
    const lengths: number[] = [];
    const features = backbone.encodeImage(pixels, {
      inputPrompt: () => ({ tokens: prompts, at: 1, mode: 'insert' }),
      layerPrompt: (layer) => (layer === 0 ? undefined : { tokens: prompts, at: 1, mode: 'replace' }),
      projectionDelta: (site, input) => {
        if (site.projection === 'q') lengths.push(input.shape[0]);
        return undefined;
      },
    });
    // 2 images × (1 class + 2 prompts + 4 patches) rows at every layer.
    expect(lengths).toEqual([14, 14]);
    expect(features.shape).toEqual([2, 16]);
    tf.dispose([pixels, prompts, features]);
  });

  it('transforms output features', () => {
    const batch = backbone.tokenize(['cat']);
    const plain = backbone.encodeText(batch);
    const doubled = backbone.encodeText(batch, { outputTransform: (f) => tf.mul(f, 2) as tf.Tensor2D });
    const expected = tf.mul(plain, 2);
    expect(diff(doubled, expected)).toBe(0);
    tf.dispose([plain, doubled, expected]);
  });
});

describe('text tower gradient', () => {
  it('matches central finite differences', () => {
    const batch = backbone.tokenize(['a photo of a cat']);
    const ids = tf.tensor2d(batch.ids, [1, batch.contextLength], 'int32');
    const embeddings = backbone.embedTokens(ids);
    const weights = tf.randomNormal([1, 16], 0, 1, 'float32', 11);
    const objective = (x: tf.Tensor3D) => tf.sum(tf.mul(backbone.encodeTextEmbeddings(x, batch.eot), weights)) as tf.Scalar;
    const before = tf.memory().numTensors;

    const gradient = tf.grad((x: tf.Tensor) => objective(x as tf.Tensor3D))(embeddings);
    const direction = tf.randomNormal(embeddings.shape, 0, 1, 'float32', 13);
    const h = 1e-2;
    const numeric = tf.tidy(() => {
      const up = objective(tf.add(embeddings, tf.mul(direction, h)) as tf.Tensor3D);
      const down = objective(tf.sub(embeddings, tf.mul(direction, h)) as tf.Tensor3D);
      return (up.dataSync()[0]! - down.dataSync()[0]!) / (2 * h);
    });
    const analytic = tf.tidy(() => tf.sum(tf.mul(gradient, direction)).dataSync()[0] as number);
    expect(Math.abs(analytic - numeric)).toBeLessThan(1e-2 * Math.max(1, Math.abs(numeric)));

    tf.dispose([gradient, direction]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([ids, embeddings, weights]);
  });
});
