import * as tf from '@tensorflow/tfjs-core';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../src/backbones/checkpoint.js';
import { clipBackboneFromCheckpoint, detectClipLayout, loadClipBackbone } from '../src/backbones/clip/load.js';
import type { ClipBackbone } from '../src/backbones/clip/model.js';
import { clipConfigFromHf } from '../src/backbones/clip/infer.js';
import { parseSafetensors, type RawTensor, type SafetensorsFile } from '../src/io/safetensors.js';
import { randomPixels, writeTinyClip } from './fixtures/tiny-clip.js';

const sentences = ['a photo of a cat', 'A RED   apple!', 'dog', 'a bird emoji with a very long caption that goes past the context'];

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

function features(backbone: ClipBackbone): { text: tf.Tensor2D; image: tf.Tensor2D } {
  const pixels = randomPixels(3, backbone.dims.imageSize);
  const result = { text: backbone.encodeText(backbone.tokenize(sentences)), image: backbone.encodeImage(pixels) };
  pixels.dispose();
  return result;
}

describe('CLIP checkpoint layouts', () => {
  let hfFolder: string;
  let openaiFolder: string;
  let hf: ClipBackbone;
  let openai: ClipBackbone;

  beforeAll(async () => {
    hfFolder = (await writeTinyClip('hf')).folder;
    openaiFolder = (await writeTinyClip('openai')).folder;
    hf = await loadClipBackbone(hfFolder);
    openai = await loadClipBackbone(openaiFolder);
  });

  afterAll(async () => {
    hf.dispose();
    openai.dispose();
    await rm(hfFolder, { recursive: true, force: true });
    await rm(openaiFolder, { recursive: true, force: true });
  });

  it('detects each layout', async () => {
    const hfFile = parseSafetensors(await readFile(join(hfFolder, 'model.safetensors')));
    const openaiFile = parseSafetensors(await readFile(join(openaiFolder, 'open_clip_model.safetensors')));
    expect(detectClipLayout(hfFile)).toBe('hf');
    expect(detectClipLayout(openaiFile)).toBe('openai');
  });

  it('infers the same architecture from open_clip shapes', () => {
    expect(openai.config).toEqual(hf.config);
  });

  it('gives identical features in both layouts', () => {
    const a = features(hf);
    const b = features(openai);
    expect(maxAbsDiff(a.text, b.text)).toBe(0);
    expect(maxAbsDiff(a.image, b.image)).toBe(0);
    tf.dispose([a.text, a.image, b.text, b.image]);
  });

  it('records identity from the folder and metadata', () => {
    expect(hf.identity.family).toBe('clip');
    expect(hf.identity.revision).toBe('test');
    expect(hf.identity.weightsSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(hf.identity.weightsSha256).not.toBe(openai.identity.weightsSha256);
  });

  it('round-trips through save and load', async () => {
    const { saveClipCheckpoint } = await import('../src/backbones/clip/load.js');
    const { writeTinyTokenizer } = await import('./fixtures/tiny-tokenizer.js');
    const folder = `${hfFolder}-resaved`;
    await saveClipCheckpoint(folder, hf.config, hf.weights(), 'openai');
    await writeTinyTokenizer(folder, 'hf');
    const reloaded = await loadClipBackbone(folder);
    const a = features(hf);
    const b = features(reloaded);
    expect(maxAbsDiff(a.text, b.text)).toBe(0);
    expect(maxAbsDiff(a.image, b.image)).toBe(0);
    tf.dispose([a.text, a.image, b.text, b.image]);
    reloaded.dispose();
    await rm(folder, { recursive: true, force: true });
  });

  it('loads F16 and BF16 checkpoints close to F32', async () => {
    const reference = features(hf);
    for (const [dtype, tolerance] of [['F16', 5e-2], ['BF16', 2e-1]] as const) {
      const { folder } = await writeTinyClip('hf', { dtype });
      const backbone = await loadClipBackbone(folder);
      const f = features(backbone);
      const relative = maxAbsDiff(f.text, reference.text) / maxAbs(reference.text);
      expect(relative, dtype).toBeLessThan(tolerance);
      expect(relative, dtype).toBeGreaterThan(0);
      tf.dispose([f.text, f.image]);
      backbone.dispose();
      await rm(folder, { recursive: true, force: true });
    }
    tf.dispose([reference.text, reference.image]);
  });

  it('leaks no tensors when encoding repeatedly', () => {
    const batch = hf.tokenize(sentences);
    const pixels = randomPixels(2, hf.dims.imageSize);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      hf.encodeText(batch).dispose();
      hf.encodeImage(pixels).dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    pixels.dispose();
  });

  it('ignores tokens after EOT exactly', () => {
    const batch = hf.tokenize(['a photo of a cat']);
    const noisy = Int32Array.from(batch.ids);
    for (let i = (batch.eot[0] as number) + 1; i < batch.contextLength; i++) noisy[i] = (i * 37) % 500;
    const clean = hf.encodeText(batch);
    const withNoise = hf.encodeText({ ...batch, ids: noisy });
    expect(maxAbsDiff(clean, withNoise)).toBe(0);
    tf.dispose([clean, withNoise]);
  });
});

function maxAbs(t: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0] as number);
}

describe('CLIP uses every tensor', () => {
  let folder: string;
  let file: SafetensorsFile;
  let reference: { text: tf.Tensor2D; image: tf.Tensor2D };
  let base: ClipBackbone;

  beforeAll(async () => {
    folder = (await writeTinyClip('openai')).folder;
    base = await loadClipBackbone(folder);
    file = parseSafetensors(await readFile(join(folder, 'open_clip_model.safetensors')), 'tiny');
    reference = features(base);
  });

  afterAll(async () => {
    tf.dispose([reference.text, reference.image]);
    base.dispose();
    await rm(folder, { recursive: true, force: true });
  });

  it('changes the output when any single tensor changes', () => {
    const unused: string[] = [];
    for (const [key, raw] of file.tensors) {
      const values = new Float32Array(raw.bytes.slice().buffer);
      for (let i = 0; i < values.length; i++) values[i] = (values[i] as number) + 0.5 * Math.sin(i + 1);
      const perturbed: RawTensor = { ...raw, bytes: new Uint8Array(values.buffer) };
      const tensors = new Map(file.tensors);
      tensors.set(key, perturbed);
      const backbone = clipBackboneFromCheckpoint({ ...file, tensors }, 'openai', base.config, base.tokenizer, base.preprocess, base.identity);
      const f = features(backbone);
      const changed =
        maxAbsDiff(f.text, reference.text) > 1e-6 || maxAbsDiff(f.image, reference.image) > 1e-6 || backbone.logitScale !== base.logitScale;
      if (!changed) unused.push(key);
      tf.dispose([f.text, f.image]);
      backbone.dispose();
    }
    expect(unused).toEqual([]);
  });
});

describe('CLIP checkpoint errors', () => {
  let folder: string;
  let file: SafetensorsFile;
  let base: ClipBackbone;

  beforeAll(async () => {
    folder = (await writeTinyClip('hf')).folder;
    base = await loadClipBackbone(folder);
    file = parseSafetensors(await readFile(join(folder, 'model.safetensors')), 'tiny.safetensors');
  });

  afterAll(async () => {
    base.dispose();
    await rm(folder, { recursive: true, force: true });
  });

  it('lists every missing, unexpected and mis-shaped tensor', () => {
    const tensors = new Map(file.tensors);
    tensors.delete('text_model.final_layer_norm.bias');
    tensors.set('text_model.encoder.layers.5.mlp.fc1.bias', tensors.get('text_projection.weight') as RawTensor);
    const wrong = tensors.get('logit_scale') as RawTensor;
    tensors.set('vision_model.post_layernorm.weight', { ...wrong, shape: [] });
    const before = tf.memory().numTensors;
    let error: unknown;
    try {
      clipBackboneFromCheckpoint({ ...file, tensors }, 'hf', base.config, base.tokenizer, base.preprocess, base.identity);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CheckpointError);
    const problems = (error as CheckpointError).problems;
    expect(problems.map((p) => `${p.kind} ${p.key}`)).toEqual([
      'unexpected text_model.encoder.layers.5.mlp.fc1.bias',
      'missing text_model.final_layer_norm.bias',
      'shape vision_model.post_layernorm.weight',
    ]);
    expect((error as Error).message).toContain('expected [24], found []');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('accepts the position_ids buffers older transformers saved', () => {
    const tensors = new Map(file.tensors);
    const ids: RawTensor = { dtype: 'I64', shape: [1, 16], bytes: new Uint8Array(16 * 8) };
    tensors.set('text_model.embeddings.position_ids', ids);
    const backbone = clipBackboneFromCheckpoint({ ...file, tensors }, 'hf', base.config, base.tokenizer, base.preprocess, base.identity);
    expect(backbone.dims.textLayers).toBe(2);
    backbone.dispose();
  });

  it('rejects a folder without weights with the conversion hint', async () => {
    await expect(loadClipBackbone(join(folder, 'nope'))).rejects.toThrow(/does not exist.*safetensors only/s);
  });

  it('rejects a HuggingFace checkpoint without config.json', async () => {
    const { folder: other } = await writeTinyClip('hf');
    await rm(join(other, 'config.json'));
    await expect(loadClipBackbone(other)).rejects.toThrow(/config\.json is missing/);
    await rm(other, { recursive: true, force: true });
  });

  it('names the bad field of an invalid config.json', async () => {
    const { folder: other } = await writeTinyClip('hf');
    await writeFile(join(other, 'config.json'), JSON.stringify({ text_config: { hidden_size: 'wide' } }));
    await expect(loadClipBackbone(other)).rejects.toThrow(/hidden_size/);
    await rm(other, { recursive: true, force: true });
  });

  it('reports a config that does not fit the weights', async () => {
    const { folder: other } = await writeTinyClip('hf');
    const config = JSON.parse(await readFile(join(other, 'config.json'), 'utf8'));
    config.text_config.num_hidden_layers = 3;
    await writeFile(join(other, 'config.json'), JSON.stringify(config));
    await expect(loadClipBackbone(other)).rejects.toThrow(/missing +text_model\.encoder\.layers\.2\./);
    await rm(other, { recursive: true, force: true });
  });

  it('applies transformers defaults to absent config fields', () => {
    const config = clipConfigFromHf({ text_config: {}, vision_config: { patch_size: 16 } });
    expect(config.text.width).toBe(512);
    expect(config.vision.patchSize).toBe(16);
    expect(config.vision.activation).toBe('quick_gelu');
  });
});
