/** Parsed command line: the command, its flags and the remaining positional arguments. */
export interface ParsedArguments {
  readonly command: string | undefined;
  readonly flags: ReadonlyMap<string, string | true>;
  readonly positional: readonly string[];
}

/** Parses `command --flag value --switch positional…`; `--flag=value` also works. */
export function parseArguments(argv: readonly string[], switches: ReadonlySet<string>): ParsedArguments {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  let command: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i] as string;
    if (argument.startsWith('--')) {
      const [name, inline] = argument.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
      if (switches.has(name)) flags.set(name, true);
      else if (inline !== undefined) flags.set(name, inline);
      else {
        const value = argv[i + 1];
        if (value === undefined || value.startsWith('--')) throw new Error(`--${name} needs a value, e.g. --${name} VALUE`);
        flags.set(name, value);
        i++;
      }
    } else if (command === undefined) command = argument;
    else positional.push(argument);
  }
  return { command, flags, positional };
}
