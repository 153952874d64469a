// The checks both smoke entry points run against the built package.
import * as tf from '@tensorflow/tfjs-core';

/** GPT-2's byte-to-unicode table, which CLIP's byte-level BPE vocabulary is written in. */
function byteCharacters() {
  const printable = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const chars = new Map(printable.map((b) => [b, String.fromCodePoint(b)]));
  let extra = 0;
  for (let b = 0; b < 256; b++) if (!chars.has(b)) chars.set(b, String.fromCodePoint(256 + extra++));
  return [...chars.entries()].sort((a, b) => a[0] - b[0]).map(([, c]) => c);
}

function minimalVocab() {
  const characters = byteCharacters();
  const tokens = [...characters, ...characters.map((c) => c + '</w>'), '<|startoftext|>', '<|endoftext|>'];
  return Object.fromEntries(tokens.map((t, i) => [t, i]));
}

export async function runSmoke(lib, testing, label) {
  const backend = await lib.initBackend();

  const config = lib.clipConfigFromHf(
    lib.decodeJsonFile(
      lib.HfClipConfigJson,
      JSON.stringify({
        projection_dim: 8,
        text_config: { hidden_size: 16, intermediate_size: 32, num_attention_heads: 2, num_hidden_layers: 1, max_position_embeddings: 8, vocab_size: 514 },
        vision_config: { hidden_size: 16, intermediate_size: 32, num_attention_heads: 2, num_hidden_layers: 1, image_size: 8, patch_size: 4 },
      }),
      'smoke config.json',
    ),
  );
  const canonical = lib.initClipCanonical(config, lib.createRandom(1));
  const tokenizer = lib.clipTokenizerFromVocabMerges(minimalVocab(), '#version: 0.2\n');
  const identity = { family: 'clip', name: 'smoke', revision: 'none', weightsSha256: '0'.repeat(64) };
  const backbone = new lib.ClipBackbone(identity, config, canonical, tokenizer, lib.openaiClipPreprocess(8));

  const { leaked } = await testing.countLeakedTensors(() => {
    const text = backbone.encodeText(backbone.tokenize(['a cat', 'dog']));
    const pixels = tf.zeros([1, 8, 8, 3]);
    const image = backbone.encodeImage(pixels);
    const shapes = [text.shape, image.shape];
    tf.dispose([text, pixels, image]);
    return shapes;
  });
  if (leaked !== 0) throw new Error(`${label}: ${leaked} tensors leaked`);

  const bytes = lib.serializeSafetensors({ x: { dtype: 'F16', shape: [2], data: new Float32Array([1, -2]) } });
  const back = lib.toFloat32(lib.parseSafetensors(bytes, 'smoke').tensors.get('x'));
  if (back[0] !== 1 || back[1] !== -2) throw new Error(`${label}: safetensors round trip gave ${back}`);

  backbone.dispose();
  console.log(`smoke ${label}: ok on backend ${backend.name} (vlm-compat ${lib.version})`);
}
