import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The repository root, which the `vlm-compat` package name points to in a test's node_modules folder. */
export const repositoryRoot = join(__dirname, '..');

/**
 * Returns the source of a plugin, an ES module that registers a residual adapter under `method`. The adapter
 * adds `ratio · (f W)` to the image features f (W starts at zero) before the zero-shot classifier.
 */
export function residualPluginSource(method: string): string {
  return `import * as tf from '@tensorflow/tfjs-core';
import * as t from 'io-ts';
import { cosineLogits, registerMethod } from 'vlm-compat';

const ratio = t.refinement(t.number, (n) => n >= 0 && n <= 1, 'a number from 0 to 1');
const defaults = { ratio: 0.5 };

function build(weight, config, classNames, template, source) {
  return {
    method: '${method}',
    kind: 'adapter',
    attachment: { depth: 'output-features', towers: ['vision'], layers: { text: [], vision: [] }, text: 'frozen-features', vision: 'frozen-features' },
    config,
    classNames,
    template,
    source,
    parameters: () => new Map([['adapter.weight', weight]]),
    buffers: () => new Map(),
    logits(context, batch) {
      const features = batch.imageFeatures;
      return tf.tidy(() => {
        const adapted = tf.add(features, tf.mul(tf.matMul(features, weight), config.ratio));
        const classifier = context.features.zeroShotClassifier(context.backbone, classNames, template);
        return cosineLogits(adapted, classifier, context.backbone.logitScale);
      });
    },
    dispose: () => weight.dispose(),
  };
}

registerMethod({
  name: '${method}',
  kind: 'adapter',
  description: 'A residual linear adapter on the image features (a test plugin).',
  configCodec: t.partial({ ratio }),
  defaults,
  training: { optimizer: 'adamw', learningRate: 0.01, epochs: 2, batchSize: 4, weightDecay: 0, warmupEpochs: 0, warmupLearningRate: 0, momentum: 0 },
  create({ backbone, classNames, config, template }) {
    const width = backbone.dims.embedDim;
    const weight = tf.tidy(() => tf.variable(tf.zeros([width, width]), true));
    const source = { identity: backbone.identity, dims: backbone.dims, tokenizer: backbone.tokenizer.source };
    return build(weight, config, classNames, template, source);
  },
  restore(manifest, tensors) {
    const saved = tensors.get('adapter.weight');
    if (saved === undefined) throw new Error('${method}: the saved module has no "adapter.weight" tensor');
    const weight = tf.variable(saved, true);
    tf.dispose([...tensors.values()]);
    return build(weight, { ...defaults, ...manifest.config }, manifest.classNames, manifest.template, manifest.source);
  },
});
`;
}

/**
 * Creates `folder/node_modules` with links to this repository (as `vlm-compat`) and to its tfjs, io-ts and
 * fp-ts packages, so that a plugin in `folder` resolves them as in a project that installed vlm-compat.
 */
export async function linkPackages(folder: string): Promise<void> {
  const modules = join(folder, 'node_modules');
  await mkdir(modules, { recursive: true });
  await symlink(repositoryRoot, join(modules, 'vlm-compat'), 'dir');
  await symlink(join(repositoryRoot, 'node_modules', '@tensorflow'), join(modules, '@tensorflow'), 'dir');
  await symlink(join(repositoryRoot, 'node_modules', 'io-ts'), join(modules, 'io-ts'), 'dir');
  await symlink(join(repositoryRoot, 'node_modules', 'fp-ts'), join(modules, 'fp-ts'), 'dir');
}

/** Writes a config file that evaluates `modules` on the tiny backbones and data set of a test folder. */
export async function writeTinyConfig(path: string, fields: Record<string, unknown>): Promise<void> {
  const config = {
    source: { folder: 'source' },
    target: { folder: 'target' },
    datasets: [{ name: 'tiny', format: 'coop', root: 'tiny' }],
    shots: [2],
    seeds: [1],
    bootstrap: 20,
    backend: 'cpu',
    output: 'out',
    ...fields,
  };
  await writeFile(path, JSON.stringify(config));
}
