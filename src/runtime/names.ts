/** Computes the Levenshtein edit distance between two strings. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/**
 * Returns the valid name closest to `name` (case-insensitive edit distance), or undefined when it needs more
 * than `maxEdits` edits. By default a suggestion may need up to half the name's length in edits, at least 2.
 */
export function closestName(name: string, valid: readonly string[], maxEdits = Math.max(2, Math.floor(name.length / 2))): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of valid) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  // A suggestion that needs more edits than that is noise rather than help.
  return bestDistance <= maxEdits ? best : undefined;
}

/** Builds the message for an unknown name: the valid names and, when one is close, a suggestion. */
export function unknownNameMessage(what: string, name: string, valid: readonly string[]): string {
  const suggestion = closestName(name, valid);
  const hint = suggestion === undefined ? '' : ` Did you mean "${suggestion}"?`;
  return `Unknown ${what} "${name}".${hint} Valid names: ${[...valid].sort().join(', ')}.`;
}
