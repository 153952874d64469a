import type { Backbone } from '../backbones/types.js';
import type { SourceRecord } from './types.js';

/**
 * Builds the record of the backbone a module is created on, as its manifest stores it. The tokenizer record
 * keeps the layout-independent fingerprint, which preflight compares.
 */
export function sourceRecord(backbone: Backbone): SourceRecord {
  return { identity: backbone.identity, dims: backbone.dims, tokenizer: backbone.tokenizer.source };
}
