// Measures the zero-shot accuracy of the bundled mini backbones on the test split (held-out fluent style)
// of every emoji task, through the library's own loaders, and writes models/<name>/MODEL_CARD.md and
// models/<name>/zero-shot.json.
//
//   node scripts/emoji/model-card.mjs [mini-clip-v1 mini-clip-v2]
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const lib = await import(process.env.VLM_COMPAT_LIB ?? 'vlm-compat');
const { initBackend, loadBackbone, loadCoopSplit, predict, accuracy, FeatureCache, miniModelsFolder } = lib;

/** The tasks, their split files and class counts, as scripts/emoji/tasks.mjs writes them. */
export const cardTasks = [
  { name: 'EmojiCategory', what: 'category (9 classes)' },
  { name: 'EmojiSubcategory', what: 'subcategory' },
  { name: 'EmojiAnimals', what: 'animals (one class per animal emoji)' },
  { name: 'EmojiFood', what: 'food and drink (one class per emoji)' },
  { name: 'EmojiAnimalGroups', what: 'kind of animal (subcategory)' },
  { name: 'EmojiFoodGroups', what: 'kind of food or drink (subcategory)' },
];
export const template = 'an emoji of {}.';
const tasksRoot = 'data/emoji-tasks';

/** Zero-shot accuracy of a backbone on each task's test split. */
async function measure(backbone) {
  const features = new FeatureCache();
  const result = {};
  for (const task of cardTasks) {
    const dataset = await loadCoopSplit({ root: tasksRoot, splitFile: `split_zhou_${task.name}.json`, template });
    const test = dataset.test.forBackbone(backbone.preprocess);
    const { predictions } = await predict(undefined, backbone, features, test, { classNames: dataset.classNames, template });
    result[task.name] = { accuracy: accuracy(predictions, test.labels), classes: dataset.classNames.length, examples: test.size, chance: 1 / dataset.classNames.length };
  }
  features.dispose();
  return result;
}

const percent = (x) => `${(100 * x).toFixed(1)}%`;

const descriptions = {
  'mini-clip-v1': {
    role: 'the source backbone of the demo',
    architecture: 'CLIP: a ViT image tower (pre-norm blocks, GELU MLP, class-token pooling) and a causal text transformer pooled at the end-of-text token',
    layout: 'HuggingFace transformers CLIPModel layout (`model.safetensors` with `config.json`), loaded by `loadClipBackbone`',
    init: () => 'every tensor drawn at random (normal, spread 0.05; layer-norm scales near 1) with seed 1, and the temperature at 0.07 as in CLIP',
  },
  'mini-clip-v2': {
    role: 'the updated backbone of the demo',
    architecture: 'EVA-CLIP: an EVA-02 image tower (2-D rotary position embedding, SwiGLU MLP, sub-LN after attention and in the MLP) and the same causal text transformer as v1',
    layout: 'EVA-CLIP layout (`open_clip_model.safetensors` with `open_clip_config.json`), loaded by `loadEvaBackbone`',
    init: (training) =>
      `the text tower copied from mini-clip-v1 (as EVA-CLIP's text tower started from OpenAI CLIP's), from its ${training.textFrom?.revision ?? 'final'} checkpoint${training.textFrom?.note === undefined ? '' : ` (${training.textFrom.note})`}; the image tower drawn at random (normal, spread 0.05) with seed 1, and the temperature at 0.07`,
  },
};

function card(name, training, zeroShot) {
  const d = descriptions[name];
  const log = training.history.filter((h) => h.zeroShot !== undefined);
  const last = log[log.length - 1]?.zeroShot ?? {};
  return `# ${name}

A small vision-language backbone bundled with vlm-compat as ${d.role}. It was trained in under an
hour on a CPU on emoji images, so that \`vlm-compat demo\` can show a real backbone update offline. It is
a model for demonstrations and tests, not a general image model: it has seen emoji only.

## Architecture
- ${d.architecture}.
- Image: ${training.size} × ${training.size} px, patch 8 (36 patches + class token); width 128, 4 layers, 4 heads.
- Text: width 128, 4 layers, 4 heads, context 32 tokens; embedding width 128.
- ${training.parameters.toLocaleString('en-US')} parameters, stored in F16.
- Weights: ${d.layout}.
- Tokenizer: a CLIP-format byte-level BPE (\`vocab.json\` + \`merges.txt\`, ${training.vocabSize ?? 'about 3,000'} tokens) learned from the caption corpus; the same files ship with both mini backbones.

## Training
- Data: ${training.trainStyles.join(', ')} renderings of 1,906 base emoji (skin-tone variants and the Component category left out), pre-rendered at ${training.size} px. The fluent style (Microsoft Fluent UI Emoji) is never trained on.
- Captions drawn at random at every step from the emoji's name, short names, emojibase keywords, category and subcategory, in several sentence forms ("an emoji of {name}.", "a {subcategory} emoji: {name}", ...).
- Augmentation: zoom 0.8–1.15, rotation ±12°, shift ±4 px, brightness ±15 %, white or random light background.
- Objective: symmetric InfoNCE over a batch of ${training.batchSize} distinct emoji, learned temperature.
- Initialization: ${d.init(training)}.
- Optimizer: AdamW (β 0.9, 0.98; weight decay 0.1 on matrices), peak learning rate ${training.baseRate}, linear warmup then cosine decay. The temperature trains at 20 times that rate and is clamped at a logit scale of 100; it ended at a logit scale of ${training.logitScale ?? 'see the weights'}.
- Budget: ${training.completedSteps} steps${training.completedSteps < training.steps ? ` (the checkpoint at step ${training.completedSteps} of a ${training.steps}-step cosine schedule; the run was stopped there for time)` : ''}, ${training.samples.toLocaleString('en-US')} samples, ${(training.seconds / 60).toFixed(1)} minutes on the wasm backend (one thread, on a 2-core machine shared with other jobs). Seed ${training.seed}.
${training.note === undefined ? '' : `- Note: ${training.note}\n`}- Reproduce: \`npm run pretrain:mini\` (scripts/emoji/).

## Zero-shot accuracy on the held-out fluent style
Template "${template}", measured through vlm-compat's loaders on the test split of each bundled task
(\`data/emoji-tasks\`), which holds fluent images only:

| task | classes | test images | chance | zero-shot |
|---|---|---|---|---|
${cardTasks.map((t) => { const r = zeroShot[t.name]; return `| ${t.name} | ${r.classes} | ${r.examples} | ${percent(r.chance)} | ${percent(r.accuracy)} |`; }).join('\n')}

Zero-shot accuracy on every fluent image (not only the test split) during training, as logged by the
pretraining script:

| samples | ${Object.keys(last).join(' | ')} |
|---|${Object.keys(last).map(() => '---').join('|')}|
${log.map((h) => `| ${(h.step * training.batchSize).toLocaleString('en-US')} | ${Object.values(h.zeroShot).map(percent).join(' | ')} |`).join('\n')}

## Licences
The weights are released under the MIT licence with vlm-compat. They were trained on images from
emoji-datasource-google (Noto Emoji, Apache License 2.0), emoji-datasource-twitter (Twemoji, CC BY 4.0)${name === 'mini-clip-v2' ? ', emoji-datasource-facebook (Facebook emoji, images without a stated licence) and OpenMoji (CC BY-SA 4.0)' : ''}; see models/NOTICE.md.
`;
}

await initBackend();
const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['mini-clip-v1', 'mini-clip-v2'];
for (const name of names) {
  const folder = join(miniModelsFolder(), name);
  const training = JSON.parse(await readFile(join(folder, 'training.json'), 'utf8'));
  training.vocabSize = Object.keys(JSON.parse(await readFile(join(folder, 'vocab.json'), 'utf8'))).length.toLocaleString('en-US');
  const backbone = await loadBackbone(name);
  training.logitScale = backbone.logitScale.toFixed(1);
  const zeroShot = await measure(backbone);
  backbone.dispose();
  await writeFile(join(folder, 'zero-shot.json'), JSON.stringify({ template, tasks: zeroShot }, null, 2) + '\n');
  await writeFile(join(folder, 'MODEL_CARD.md'), card(name, training, zeroShot));
  console.log(`${name}: ${cardTasks.map((t) => `${t.name} ${percent(zeroShot[t.name].accuracy)}`).join(', ')}`);
}
