/** Formats a JSON value for a message, shortened to about 60 characters. */
function showJson(value: unknown): string {
  if (value === undefined) return '(absent)';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * Lists where two JSON values differ, as `path: old → new`, depth first in key order, at most `limit` entries.
 * Arrays of different lengths are reported whole; objects are compared key by key.
 */
export function jsonDifferences(before: unknown, after: unknown, limit = 3, path = ''): string[] {
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  const bothObjects = typeof before === 'object' && before !== null && typeof after === 'object' && after !== null;
  const sameShape = bothObjects && Array.isArray(before) === Array.isArray(after) && (!Array.isArray(before) || before.length === (after as unknown[]).length);
  if (!sameShape) return [`${path === '' ? '(whole file)' : path}: ${showJson(before)} → ${showJson(after)}`];

  const differences: string[] = [];
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  for (const key of keys) {
    if (differences.length >= limit) break;
    let child = `${path}.${key}`;
    if (Array.isArray(before)) child = `${path}[${key}]`;
    else if (path === '') child = key;
    const remaining = limit - differences.length;
    differences.push(...jsonDifferences((before as Record<string, unknown>)[key], (after as Record<string, unknown>)[key], remaining, child));
  }
  return differences;
}
