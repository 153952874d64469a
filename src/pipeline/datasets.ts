import { loadCoopSplit, loadImageFolder, type Dataset } from '../data/index.js';
import type { EvaluateConfig } from './config.js';

/**
 * Opens one data set entry of an evaluate config with the loader its format names, with `root` as given
 * (resolve it against the config's folder first). Raises the loaders' errors.
 */
export async function openDatasetEntry(entry: EvaluateConfig['datasets'][number]): Promise<Dataset> {
  const common = { name: entry.name, ...(entry.template === undefined ? {} : { template: entry.template }) };
  if (entry.format === 'coop') {
    return loadCoopSplit({ root: entry.root, ...common, ...(entry.splitFile === undefined ? {} : { splitFile: entry.splitFile }), ...(entry.imageDir === undefined ? {} : { imageDir: entry.imageDir }) });
  }
  const fractions =
    entry.testFraction === undefined ? {} : { fractions: { train: 1 - entry.testFraction - (entry.valFraction ?? 0), val: entry.valFraction ?? 0, test: entry.testFraction } };
  return loadImageFolder({ root: entry.root, ...common, ...fractions });
}
