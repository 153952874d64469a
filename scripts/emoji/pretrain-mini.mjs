// Rebuilds everything the demo ships, in order: renders the emoji corpus, pretrains mini-clip-v1, pretrains
// mini-clip-v2 from v1's text tower, writes the few-shot tasks and measures the model cards.
//
//   npm run pretrain:mini -- [--samples-v1 102400] [--samples-v2 122880] [--seed 1]
//
// The sample budgets set the run time. The wasm backend trains on one thread: on a 2-core machine with a
// second job running, v1's 102,400 samples took 33 minutes (about 52 samples per second) and v2's EVA-CLIP
// tower trains at about 50 samples per second.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    'samples-v1': { type: 'string', default: '102400' },
    'samples-v2': { type: 'string', default: '122880' },
    seed: { type: 'string', default: '1' },
    size: { type: 'string', default: '48' },
  },
});

function run(script, ...scriptArgs) {
  console.log(`\n> node ${script} ${scriptArgs.join(' ')}`);
  const result = spawnSync(process.execPath, [script, ...scriptArgs], { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`${script} failed with exit code ${result.status}; fix the error above and run npm run pretrain:mini again`);
    process.exit(result.status ?? 1);
  }
}

const common = ['--seed', args.seed, '--size', args.size, '--batch', '128', '--lr', '0.0005', '--eval-every', '100', '--save-every', '100'];
run('scripts/emoji/render.mjs', args.size);
run('scripts/emoji/pretrain.mjs', '--model', 'v1', '--samples', args['samples-v1'], '--out', 'models/mini-clip-v1', ...common);
run('scripts/emoji/pretrain.mjs', '--model', 'v2', '--samples', args['samples-v2'], '--out', 'models/mini-clip-v2', '--text-from', 'models/mini-clip-v1', ...common);
run('scripts/emoji/tasks.mjs', '--size', args.size, '--seed', args.seed);
run('scripts/emoji/model-card.mjs');
