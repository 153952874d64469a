import * as tf from '@tensorflow/tfjs-core';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../src/backbones/checkpoint.js';
import { detectCheckpointFamily } from '../src/backbones/eva/detect.js';
import {
  detectEvaLayout,
  evaBackboneFromCheckpoint,
  loadEvaBackbone,
  RopeTableError,
  saveEvaCheckpoint,
  WrongBackboneFamilyError,
  type EvaCheckpointFormat,
} from '../src/backbones/eva/load.js';
import type { EvaClipConfig } from '../src/backbones/eva/config.js';
import { EvaClipBackbone } from '../src/backbones/eva/model.js';
import { loadBackbone } from '../src/backbones/registry.js';
import { clipTokenizerFromVocabMerges } from '../src/backbones/tokenizer.js';
import { openaiClipPreprocess } from '../src/backbones/preprocess.js';
import type { ProjectionSite, TowerHooks } from '../src/backbones/types.js';
import { ConfigFileError } from '../src/io/json.js';
import { parseSafetensors, serializeSafetensors, type RawTensor, type SafetensorsFile } from '../src/io/safetensors.js';
import { randomPixels, writeTinyClip } from './fixtures/tiny-clip.js';
import { tinyEvaCanonical, tinyEvaConfig, writeTinyEva } from './fixtures/tiny-eva.js';
import { buildTinyClipVocab } from './fixtures/tiny-tokenizer.js';

const sentences = ['a photo of a cat', 'A RED   apple!', 'dog', 'a bird emoji with a very long caption that goes past the context'];

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

function maxAbs(t: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0] as number);
}

function features(backbone: EvaClipBackbone, hooks?: TowerHooks): { text: tf.Tensor2D; image: tf.Tensor2D } {
  const pixels = randomPixels(3, backbone.dims.imageSize);
  const result = { text: backbone.encodeText(backbone.tokenize(sentences)), image: backbone.encodeImage(pixels, hooks) };
  pixels.dispose();
  return result;
}

async function readWeights(folder: string, label = 'tiny'): Promise<SafetensorsFile> {
  return parseSafetensors(await readFile(join(folder, 'open_clip_model.safetensors')), label);
}

function build(file: SafetensorsFile, format: EvaCheckpointFormat, base: EvaClipBackbone): EvaClipBackbone {
  return evaBackboneFromCheckpoint(file, format, base.config, base.tokenizer, base.preprocess, base.identity);
}

/** Returns a copy of a float32 tensor with every value shifted by a different amount. */
function perturbed(raw: RawTensor, scale = 0.5): RawTensor {
  const values = new Float32Array(raw.bytes.slice().buffer);
  for (let i = 0; i < values.length; i++) values[i] = (values[i] as number) + scale * Math.sin(i + 1);
  return { ...raw, bytes: new Uint8Array(values.buffer) };
}

/**
 * Builds the tiny config with a text tower of one 64-wide head, so that head counts can be inferred
 * without open_clip_config.json. The vision head width then comes from the stored rotary tables.
 */
function configWithoutJsonNeeds(ropeReferenceGrid: number): EvaClipConfig {
  const config = tinyEvaConfig({ ropeReferenceGrid });
  return { ...config, text: { ...config.text, width: 64, heads: 1, mlpWidth: 128 } };
}

function tinyBackbone(options: Parameters<typeof tinyEvaConfig>[0] = {}): EvaClipBackbone {
  const config = tinyEvaConfig(options);
  const { vocab, merges } = buildTinyClipVocab();
  const identity = { family: 'eva-clip', name: 'tiny', revision: 'test', weightsSha256: '0'.repeat(64) };
  return new EvaClipBackbone(identity, config, tinyEvaCanonical(config, 3), clipTokenizerFromVocabMerges(vocab, merges), openaiClipPreprocess(16));
}

describe('EVA-CLIP checkpoint layouts', () => {
  let evaFolder: string;
  let openClipFolder: string;
  let eva: EvaClipBackbone;
  let openClip: EvaClipBackbone;

  beforeAll(async () => {
    evaFolder = (await writeTinyEva('eva-clip')).folder;
    openClipFolder = (await writeTinyEva('open-clip')).folder;
    eva = await loadEvaBackbone(evaFolder);
    openClip = await loadEvaBackbone(openClipFolder);
  });

  afterAll(async () => {
    eva.dispose();
    openClip.dispose();
    await rm(evaFolder, { recursive: true, force: true });
    await rm(openClipFolder, { recursive: true, force: true });
  });

  it('detects each layout', async () => {
    expect(detectEvaLayout(await readWeights(evaFolder))).toEqual({ layout: 'eva-clip', textPrefix: '' });
    expect(detectEvaLayout(await readWeights(openClipFolder))).toEqual({ layout: 'open-clip', textPrefix: 'text.' });
  });

  it('reads the config it was saved with', () => {
    expect(eva.config).toEqual(tinyEvaConfig());
    expect(openClip.config).toEqual(tinyEvaConfig());
  });

  it('gives identical features in both layouts', () => {
    const a = features(eva);
    const b = features(openClip);
    expect(maxAbsDiff(a.text, b.text)).toBe(0);
    expect(maxAbsDiff(a.image, b.image)).toBe(0);
    tf.dispose([a.text, a.image, b.text, b.image]);
  });

  it('records the eva-clip identity', () => {
    expect(eva.identity.family).toBe('eva-clip');
    expect(eva.identity.revision).toBe('test');
    expect(eva.identity.weightsSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(eva.identity.weightsSha256).not.toBe(openClip.identity.weightsSha256);
  });

  it('round-trips through save and load', async () => {
    const folder = `${evaFolder}-resaved`;
    await saveEvaCheckpoint(folder, eva.config, eva.weights(), 'open-clip');
    const { writeTinyTokenizer } = await import('./fixtures/tiny-tokenizer.js');
    await writeTinyTokenizer(folder, 'openai');
    const reloaded = await loadEvaBackbone(folder);
    const a = features(eva);
    const b = features(reloaded);
    expect(maxAbsDiff(a.text, b.text)).toBe(0);
    expect(maxAbsDiff(a.image, b.image)).toBe(0);
    tf.dispose([a.text, a.image, b.text, b.image]);
    reloaded.dispose();
    await rm(folder, { recursive: true, force: true });
  });

  it('loads text keys under text. in the EVA-CLIP layout', async () => {
    const { folder } = await writeTinyEva('eva-clip', { textPrefix: 'text.' });
    const backbone = await loadEvaBackbone(folder);
    const a = features(eva);
    const b = features(backbone);
    expect(maxAbsDiff(a.text, b.text)).toBe(0);
    expect(maxAbsDiff(a.image, b.image)).toBe(0);
    tf.dispose([a.text, a.image, b.text, b.image]);
    backbone.dispose();
    await rm(folder, { recursive: true, force: true });
  });

  it('infers the architecture without open_clip_config.json', async () => {
    // Without a config the rotary reference grid defaults to 16, so the fixture uses 16 as well.
    const { folder } = await writeTinyEva('eva-clip', { config: configWithoutJsonNeeds(16) });
    const withConfig = await loadEvaBackbone(folder);
    await rm(join(folder, 'open_clip_config.json'));
    const inferred = await loadEvaBackbone(folder);
    expect(inferred.config).toEqual(withConfig.config);
    const a = features(withConfig);
    const b = features(inferred);
    expect(maxAbsDiff(a.image, b.image)).toBe(0);
    tf.dispose([a.text, a.image, b.text, b.image]);
    withConfig.dispose();
    inferred.dispose();
    await rm(folder, { recursive: true, force: true });
  });

  it('loads F16 weights and rotary tables close to F32', async () => {
    const { folder } = await writeTinyEva('eva-clip', { dtype: 'F16' });
    const backbone = await loadEvaBackbone(folder);
    const reference = features(eva);
    const f = features(backbone);
    const relative = maxAbsDiff(f.image, reference.image) / maxAbs(reference.image);
    expect(relative).toBeLessThan(5e-2);
    expect(relative).toBeGreaterThan(0);
    tf.dispose([f.text, f.image, reference.text, reference.image]);
    backbone.dispose();
    await rm(folder, { recursive: true, force: true });
  });

  it('leaks no tensors when encoding repeatedly', () => {
    const batch = eva.tokenize(sentences);
    const pixels = randomPixels(2, eva.dims.imageSize);
    const prompt = tf.ones([2, eva.dims.visionWidth]) as tf.Tensor2D;
    const hooks: TowerHooks = { inputPrompt: () => ({ tokens: prompt, at: 1, mode: 'insert' }) };
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      eva.encodeText(batch).dispose();
      eva.encodeImage(pixels).dispose();
      eva.encodeImage(pixels, hooks).dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([pixels, prompt]);
  });
});

describe('backbone family detection', () => {
  it('loads an EVA-CLIP folder with the EVA-CLIP loader', async () => {
    const { folder } = await writeTinyEva('open-clip');
    expect(await detectCheckpointFamily(folder)).toBe('eva-clip');
    const backbone = await loadBackbone(folder);
    expect(backbone.identity.family).toBe('eva-clip');
    backbone.dispose();
    await rm(folder, { recursive: true, force: true });
  });

  it('loads a CLIP folder with the CLIP loader', async () => {
    const { folder } = await writeTinyClip('openai');
    expect(await detectCheckpointFamily(folder)).toBe('clip');
    const backbone = await loadBackbone(folder);
    expect(backbone.identity.family).toBe('clip');
    backbone.dispose();
    await rm(folder, { recursive: true, force: true });
  });

  it('leaves an unreadable header to the loader', async () => {
    const { folder } = await writeTinyEva('open-clip');
    await writeFile(join(folder, 'open_clip_model.safetensors'), 'not a safetensors file');
    expect(await detectCheckpointFamily(folder)).toBeUndefined();
    await expect(loadBackbone(folder)).rejects.toThrow(/open_clip_model\.safetensors/);
    await rm(folder, { recursive: true, force: true });
  });

  it('rejects a CLIP checkpoint in the EVA-CLIP loader', async () => {
    const { folder } = await writeTinyClip('openai');
    const error = await loadEvaBackbone(folder).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WrongBackboneFamilyError);
    expect((error as Error).message).toMatch(/looks like a CLIP checkpoint \(it has visual\.conv1\.weight\).*loadClipBackbone/);
    await rm(folder, { recursive: true, force: true });
  });

  it('rejects a timm vision-only file', async () => {
    const file = serializeSafetensors({ 'blocks.0.attn.q_proj.weight': { dtype: 'F32', shape: [1], data: [0] } });
    expect(() => detectEvaLayout(parseSafetensors(file, 'model.safetensors'))).toThrow(/vision tower alone.*open_clip_model\.safetensors/);
  });
});

describe('EVA-CLIP uses every tensor', () => {
  let folder: string;
  let file: SafetensorsFile;
  let reference: { text: tf.Tensor2D; image: tf.Tensor2D };
  let base: EvaClipBackbone;
  let pixels: tf.Tensor4D;
  const format: EvaCheckpointFormat = { layout: 'eva-clip', textPrefix: '' };

  beforeAll(async () => {
    folder = (await writeTinyEva('eva-clip')).folder;
    base = await loadEvaBackbone(folder);
    file = await readWeights(folder);
    pixels = randomPixels(3, base.dims.imageSize);
    reference = { text: base.encodeText(base.tokenize(sentences)), image: base.encodeImage(pixels) };
  });

  afterAll(async () => {
    tf.dispose([reference.text, reference.image, pixels]);
    base.dispose();
    await rm(folder, { recursive: true, force: true });
  });

  it('changes the output when any weight changes', () => {
    const unused: string[] = [];
    for (const [key, raw] of file.tensors) {
      if (key.startsWith('visual.rope.')) continue;
      const tensors = new Map(file.tensors);
      tensors.set(key, perturbed(raw));
      const backbone = build({ ...file, tensors }, format, base);
      // Only the tower a tensor belongs to is run, which halves the time of this loop.
      let changed = backbone.logitScale !== base.logitScale;
      if (key.startsWith('visual.')) {
        const image = backbone.encodeImage(pixels);
        changed ||= maxAbsDiff(image, reference.image) > 1e-6;
        image.dispose();
      } else if (key !== 'logit_scale') {
        const text = backbone.encodeText(backbone.tokenize(sentences));
        changed ||= maxAbsDiff(text, reference.text) > 1e-6;
        text.dispose();
      }
      if (!changed) unused.push(key);
      backbone.dispose();
    }
    expect(unused).toEqual([]);
  });

  it('rejects a wrong stored rotary table', () => {
    for (const key of ['visual.rope.freqs_cos', 'visual.rope.freqs_sin']) {
      const tensors = new Map(file.tensors);
      tensors.set(key, perturbed(file.tensors.get(key) as RawTensor, 0.01));
      const before = tf.memory().numTensors;
      let error: unknown;
      try {
        build({ ...file, tensors }, format, base);
      } catch (e) {
        error = e;
      }
      expect(error, key).toBeInstanceOf(RopeTableError);
      expect((error as RopeTableError).mismatches.map((m) => m.key)).toEqual([key]);
      expect((error as Error).message).toMatch(/reference grid 5.*pt_hw_seq_len/s);
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  it('checks the per-block copies of the rotary tables', () => {
    const tensors = new Map(file.tensors);
    tensors.set('visual.blocks.1.attn.rope.freqs_cos', file.tensors.get('visual.rope.freqs_cos') as RawTensor);
    const backbone = build({ ...file, tensors }, format, base);
    expect(backbone.dims.visionLayers).toBe(2);
    backbone.dispose();
    tensors.set('visual.blocks.1.attn.rope.freqs_sin', file.tensors.get('visual.rope.freqs_cos') as RawTensor);
    expect(() => build({ ...file, tensors }, format, base)).toThrow(/visual\.blocks\.1\.attn\.rope\.freqs_sin: max difference/);
  });

  it('rejects rotary tables of another reference grid', async () => {
    // The checkpoint is saved with reference grid 5. Without a config the loader assumes EVA02-CLIP-B/16's 16.
    const { folder: other } = await writeTinyEva('eva-clip', { config: configWithoutJsonNeeds(5) });
    await rm(join(other, 'open_clip_config.json'));
    await expect(loadEvaBackbone(other)).rejects.toThrow(RopeTableError);
    await rm(other, { recursive: true, force: true });
  });
});

describe('EVA-CLIP checkpoint errors', () => {
  let folder: string;
  let file: SafetensorsFile;
  let base: EvaClipBackbone;

  beforeAll(async () => {
    folder = (await writeTinyEva('eva-clip')).folder;
    base = await loadEvaBackbone(folder);
    file = await readWeights(folder, 'tiny.safetensors');
  });

  afterAll(async () => {
    base.dispose();
    await rm(folder, { recursive: true, force: true });
  });

  it('lists every missing, unexpected and mis-shaped tensor', () => {
    const tensors = new Map(file.tensors);
    tensors.delete('visual.blocks.0.attn.q_bias');
    tensors.set('visual.blocks.0.attn.k_bias', tensors.get('visual.blocks.0.attn.v_bias') as RawTensor);
    const scalar = tensors.get('logit_scale') as RawTensor;
    tensors.set('visual.norm.weight', { ...scalar, shape: [] });
    tensors.set('visual.rope.freqs_sin', { ...scalar, shape: [] });
    const before = tf.memory().numTensors;
    let error: unknown;
    try {
      build({ ...file, tensors }, { layout: 'eva-clip', textPrefix: '' }, base);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CheckpointError);
    expect((error as CheckpointError).problems.map((p) => `${p.kind} ${p.key}`)).toEqual([
      'unexpected visual.blocks.0.attn.k_bias',
      'missing visual.blocks.0.attn.q_bias',
      'shape visual.norm.weight',
      'shape visual.rope.freqs_sin',
    ]);
    expect((error as Error).message).toContain('expected [16,12], found []');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects an EVA-CLIP checkpoint read as open_clip', () => {
    expect(() => build(file, { layout: 'open-clip', textPrefix: 'text.' }, base)).toThrow(/missing +visual\.trunk\.blocks\.0\.mlp\.fc1_g\.weight/);
  });

  it('reports a config that does not fit the weights', async () => {
    const { folder: other } = await writeTinyEva('open-clip');
    const path = join(other, 'open_clip_config.json');
    const json = JSON.parse(await readFile(path, 'utf8'));
    json.model_cfg.vision_cfg.width = 32;
    json.model_cfg.text_cfg.layers = 3;
    await writeFile(path, JSON.stringify(json));
    const error = await loadEvaBackbone(other).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigFileError);
    expect((error as Error).message).toMatch(/vision_cfg\.width is 32, the weights have 24\n {2}text_cfg\.layers is 3, the weights have 2/);
    await rm(other, { recursive: true, force: true });
  });

  it('rejects an EVA-01 config', async () => {
    const { folder: other } = await writeTinyEva('eva-clip');
    const path = join(other, 'open_clip_config.json');
    const json = JSON.parse(await readFile(path, 'utf8'));
    json.model_cfg.vision_cfg.rope = false;
    delete json.model_cfg.vision_cfg.naiveswiglu;
    await writeFile(path, JSON.stringify(json));
    await expect(loadEvaBackbone(other)).rejects.toThrow(/vision_cfg\.rope is false.*\n.*vision_cfg\.naiveswiglu is absent/);
    await rm(other, { recursive: true, force: true });
  });

  it('rejects a rotary table without interpolation that does not fit the grid', async () => {
    const { folder: other } = await writeTinyEva('eva-clip');
    const path = join(other, 'open_clip_config.json');
    const json = JSON.parse(await readFile(path, 'utf8'));
    json.model_cfg.vision_cfg.intp_freq = false;
    await writeFile(path, JSON.stringify(json));
    await expect(loadEvaBackbone(other)).rejects.toThrow(/intp_freq is off.*pt_hw_seq_len = 5.*grid is 4/);
    await rm(other, { recursive: true, force: true });
  });

  it('rejects a folder without weights with the conversion hint', async () => {
    await expect(loadEvaBackbone(join(folder, 'nope'))).rejects.toThrow(/does not exist.*safetensors only/s);
  });
});

describe('EVA-CLIP hooks', () => {
  let backbone: EvaClipBackbone;
  let pixels: tf.Tensor4D;
  let prompts: tf.Tensor2D;

  beforeAll(() => {
    backbone = tinyBackbone();
    pixels = randomPixels(2, 16);
    prompts = tf.randomNormal([2, 24], 0, 1, 'float32', 9) as tf.Tensor2D;
  });

  afterAll(() => {
    tf.dispose([pixels, prompts]);
    backbone.dispose();
  });

  const insertAt = (at: number): TowerHooks => ({ inputPrompt: () => ({ tokens: prompts, at, mode: 'insert' }) });

  it('passes every projection site of both towers', () => {
    const seen = new Set<string>();
    const record = (site: ProjectionSite) => {
      seen.add(`${site.tower}.${site.layer}.${site.projection}`);
      return undefined;
    };
    tf.dispose([backbone.encodeText(backbone.tokenize(['cat']), { projectionDelta: record }), backbone.encodeImage(pixels, { projectionDelta: record })]);
    const vision = [...seen].filter((s) => s.startsWith('vision.')).sort();
    expect(vision).toEqual(
      [0, 1].flatMap((layer) => ['k', 'mlp_gate', 'mlp_in', 'mlp_out', 'out', 'q', 'v'].map((p) => `vision.${layer}.${p}`)).sort(),
    );
    expect(seen.size).toBe(2 * 7 + 2 * 6);
  });

  it('adds a projection delta at every vision site', () => {
    const plain = backbone.encodeImage(pixels);
    const outputWidth = (site: ProjectionSite) => (site.projection === 'mlp_gate' || site.projection === 'mlp_in' ? 64 : 24);
    const zero = backbone.encodeImage(pixels, { projectionDelta: (site, input) => tf.zeros([input.shape[0], outputWidth(site)]) as tf.Tensor2D });
    expect(maxAbsDiff(plain, zero)).toBe(0);
    for (const projection of ['q', 'k', 'v', 'out', 'mlp_gate', 'mlp_in', 'mlp_out'] as const) {
      const shifted = backbone.encodeImage(pixels, {
        projectionDelta: (site, input) =>
          site.projection === projection && site.layer === 0 ? (tf.randomNormal([input.shape[0], outputWidth(site)], 0, 0.5, 'float32', 4) as tf.Tensor2D) : undefined,
      });
      expect(maxAbsDiff(plain, shifted), projection).toBeGreaterThan(1e-4);
      shifted.dispose();
    }
    tf.dispose([plain, zero]);
  });

  it('keeps patch rotations wherever prompts are inserted', () => {
    // Attention without a mask is permutation-equivariant, and position and rotary embeddings stay with
    // the patches, so the class-token output cannot depend on where the prompt tokens sit.
    const afterClass = backbone.encodeImage(pixels, insertAt(1));
    for (const at of [0, 6, 17]) {
      const elsewhere = backbone.encodeImage(pixels, insertAt(at));
      expect(maxAbsDiff(afterClass, elsewhere), `at ${at}`).toBeLessThan(1e-5);
      elsewhere.dispose();
    }
    afterClass.dispose();
  });

  it('changes the output with the prompt tokens', () => {
    const plain = backbone.encodeImage(pixels);
    const prompted = backbone.encodeImage(pixels, insertAt(1));
    expect(maxAbsDiff(plain, prompted)).toBeGreaterThan(1e-4);
    tf.dispose([plain, prompted]);
  });

  it('depends on the rotary reference grid', () => {
    const other = tinyBackbone({ ropeReferenceGrid: 16 });
    const a = backbone.encodeImage(pixels);
    const b = other.encodeImage(pixels);
    expect(maxAbsDiff(a, b)).toBeGreaterThan(1e-4);
    tf.dispose([a, b]);
    other.dispose();
  });

  it('replaces deep prompts layer by layer without growing the sequence', () => {
    const lengths: number[] = [];
    const image = backbone.encodeImage(pixels, {
      inputPrompt: () => ({ tokens: prompts, at: 1, mode: 'insert' }),
      layerPrompt: (layer) => (layer === 0 ? undefined : { tokens: tf.mul(prompts, 2) as tf.Tensor2D, at: 1, mode: 'replace' }),
      projectionDelta: (site, input) => {
        if (site.projection === 'q') lengths.push(input.shape[0]);
        return undefined;
      },
    });
    // 2 images × (1 class + 2 prompts + 16 patches) rows at every layer.
    expect(lengths).toEqual([38, 38]);
    expect(image.shape).toEqual([2, 16]);
    image.dispose();
  });

  it('rejects a prompt that replaces the class token', () => {
    expect(() => backbone.encodeImage(pixels, { inputPrompt: () => ({ tokens: prompts, at: 0, mode: 'replace' }) })).toThrow(/overwrite the class token at 0/);
  });

  it('transforms output features', () => {
    const plain = backbone.encodeImage(pixels);
    const doubled = backbone.encodeImage(pixels, { outputTransform: (f) => tf.mul(f, 2) as tf.Tensor2D });
    const expected = tf.mul(plain, 2);
    expect(maxAbsDiff(doubled, expected)).toBe(0);
    tf.dispose([plain, doubled, expected]);
  });
});

describe('EVA-CLIP gradients', () => {
  let backbone: EvaClipBackbone;

  beforeAll(() => {
    backbone = tinyBackbone();
  });

  afterAll(() => backbone.dispose());

  /** Compares the gradient of `objective` at x along a random direction with a central finite difference. */
  function checkGradient(objective: (x: tf.Tensor) => tf.Scalar, x: tf.Tensor): { analytic: number; numeric: number } {
    const gradient = tf.grad(objective)(x);
    const direction = tf.randomNormal(x.shape, 0, 1, 'float32', 13);
    // float32 rounding stays below 1e-4 of the objective at this step, and truncation error is about 1e-4 relative.
    const h = 1e-3;
    const numeric = tf.tidy(() => {
      const up = objective(tf.add(x, tf.mul(direction, h)));
      const down = objective(tf.sub(x, tf.mul(direction, h)));
      return ((up.dataSync()[0] as number) - (down.dataSync()[0] as number)) / (2 * h);
    });
    const analytic = tf.tidy(() => tf.sum(tf.mul(gradient, direction)).dataSync()[0] as number);
    tf.dispose([gradient, direction]);
    return { analytic, numeric };
  }

  it('matches finite differences for text embeddings', () => {
    const batch = backbone.tokenize(['a photo of a cat']);
    const ids = tf.tensor2d(batch.ids, [1, batch.contextLength], 'int32');
    const embeddings = backbone.embedTokens(ids);
    const weights = tf.randomNormal([1, 16], 0, 1, 'float32', 11);
    const before = tf.memory().numTensors;
    const { analytic, numeric } = checkGradient((x) => tf.sum(tf.mul(backbone.encodeTextEmbeddings(x as tf.Tensor3D, batch.eot), weights)) as tf.Scalar, embeddings);
    expect(Math.abs(analytic - numeric)).toBeLessThan(1e-2 * Math.max(1, Math.abs(numeric)));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([ids, embeddings, weights]);
  });

  it('matches finite differences for image pixels', () => {
    const pixels = randomPixels(2, 16, 3);
    const prompt = tf.randomNormal([2, 24], 0, 1, 'float32', 8) as tf.Tensor2D;
    const weights = tf.randomNormal([2, 16], 0, 1, 'float32', 12);
    const hooks: TowerHooks = { inputPrompt: () => ({ tokens: prompt, at: 1, mode: 'insert' }) };
    const before = tf.memory().numTensors;
    const { analytic, numeric } = checkGradient((x) => tf.sum(tf.mul(backbone.encodeImage(x as tf.Tensor4D, hooks), weights)) as tf.Scalar, pixels);
    expect(Math.abs(analytic - numeric)).toBeLessThan(1e-2 * Math.max(1, Math.abs(numeric)));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([pixels, prompt, weights]);
  });
});

describe('EVA-CLIP shared-prefix text encoding', () => {
  it('equals encoding the concatenated sequences', async () => {
    const { folder } = await writeTinyEva('eva-clip', { seed: 4 });
    const backbone = await loadEvaBackbone(folder);
    const width = backbone.dims.textWidth;
    const prefix = tf.randomNormal([1, 3, width], 0, 0.2, 'float32', 1) as tf.Tensor3D;
    const suffixes = tf.randomNormal([2, 4, width], 0, 0.2, 'float32', 2) as tf.Tensor3D;
    const eot = [4, 6];
    const shared = backbone.encodeTextWithSharedPrefix(prefix, suffixes, eot);
    const plain = tf.tidy(() => backbone.encodeTextEmbeddings(tf.concat([tf.concat([prefix, prefix], 0), suffixes], 1) as tf.Tensor3D, eot));
    const difference = tf.tidy(() => tf.max(tf.abs(tf.sub(shared, plain))).dataSync()[0] as number);
    expect(difference).toBeLessThan(1e-5);
    tf.dispose([prefix, suffixes, shared, plain]);
    backbone.dispose();
    await rm(folder, { recursive: true, force: true });
  });
});
