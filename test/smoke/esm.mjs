// Imports the built package under plain Node as an ES module, outside vitest's module transforms.
import * as lib from 'vlm-compat';
import * as testing from 'vlm-compat/testing';
import { runSmoke } from './shared.mjs';

await runSmoke(lib, testing, 'esm');
