import { closestName } from '../runtime/names.js';

/** Parsed command line: the command, its flags and the remaining positional arguments. */
export interface ParsedArguments {
  readonly command: string | undefined;
  readonly flags: ReadonlyMap<string, string | true>;
  readonly positional: readonly string[];
}

/** The flags and arguments one command takes. */
export interface CommandSyntax {
  /** Flags followed by a value, such as `config` for `--config FILE`. */
  readonly values: readonly string[];
  /** Flags without a value, such as `quick` for `--quick`. */
  readonly switches?: readonly string[];
  /** Whether arguments after the command that are not flags are taken, as `merge` takes shard folders. Default false. */
  readonly positional?: boolean;
}

/** Raised for a command line that does not fit the command's syntax; the CLI exits with 2 and points to the usage. */
export class UsageError extends Error {
  /** Error name: `UsageError`. */
  override readonly name = 'UsageError';
}

/** Switches every command takes. */
const globalSwitches = ['help', 'version'];

/** Splits `--name=value` into the name and the inline value, or returns undefined for an argument that is not a flag. */
function splitFlag(argument: string): { name: string; inline: string | undefined } | undefined {
  if (!argument.startsWith('--')) return undefined;
  const [name, inline] = argument.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
  return { name, inline };
}

/**
 * Returns the command: the first argument that is neither a flag nor the value of a flag that some
 * command takes with a value. It is found before the flags are checked, because which flags are valid
 * depends on the command.
 */
function findCommand(argv: readonly string[], commands: Readonly<Record<string, CommandSyntax>>): string | undefined {
  const valueFlags = new Set(Object.values(commands).flatMap((syntax) => syntax.values));
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i] as string;
    const flag = splitFlag(argument);
    if (flag === undefined) return argument;
    if (flag.inline === undefined && valueFlags.has(flag.name) && !(argv[i + 1] ?? '--').startsWith('--')) i++;
  }
  return undefined;
}

/** Builds the message for a flag that `command` does not take, with the closest flag it does take. */
function unknownFlagMessage(name: string, command: string | undefined, accepted: readonly string[]): string {
  const where = command === undefined ? '' : ` for ${command}`;
  const suggestion = closestName(name, accepted);
  if (suggestion !== undefined) return `unknown flag --${name}${where}; did you mean --${suggestion}?`;
  return `unknown flag --${name}${where}; ${command ?? 'vlm-compat'} takes ${accepted.map((flag) => `--${flag}`).join(', ')}`;
}

/**
 * Parses `command --flag value --switch positional…` (`--flag=value` also works) against the syntax of
 * each command. Raises a {@link UsageError} for an unknown command and, in this order, for flags the
 * command does not take (every one, each with the closest valid flag), a value given to a switch, a flag
 * given twice, a flag without its value, and positional arguments the command does not take.
 */
export function parseArguments(argv: readonly string[], commands: Readonly<Record<string, CommandSyntax>>): ParsedArguments {
  const command = findCommand(argv, commands);
  const syntax = command === undefined ? { values: [] } : commands[command];
  if (syntax === undefined) {
    const names = Object.keys(commands);
    const suggestion = closestName(command as string, names);
    throw new UsageError(`unknown command "${command}"${suggestion === undefined ? '' : `; did you mean ${suggestion}?`} The commands are ${names.join(', ')}.`);
  }
  const switches = [...(syntax.switches ?? []), ...globalSwitches];
  const accepted = [...syntax.values, ...switches];

  // Unknown flags come first, so a typo is not reported as a flag without its value.
  const unknown = argv.flatMap((argument) => {
    const flag = splitFlag(argument);
    return flag === undefined || accepted.includes(flag.name) ? [] : [flag.name];
  });
  if (unknown.length > 0) throw new UsageError([...new Set(unknown)].map((name) => unknownFlagMessage(name, command, accepted)).join('\n'));

  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  let commandSeen = false;
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i] as string;
    const flag = splitFlag(argument);
    if (flag === undefined) {
      if (!commandSeen && argument === command) commandSeen = true;
      else positional.push(argument);
      continue;
    }

    const { name, inline } = flag;
    if (flags.has(name)) throw new UsageError(`--${name} is given twice; give it once`);
    if (switches.includes(name)) {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value; remove "=${inline}"`);
      flags.set(name, true);
    } else if (inline !== undefined) {
      flags.set(name, inline);
    } else {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value, e.g. --${name} VALUE`);
      flags.set(name, value);
      i++;
    }
  }

  const extra = positional[0];
  if (extra !== undefined && syntax.positional !== true) {
    const suggestion = closestName(extra, accepted);
    const next = suggestion === undefined ? `${command ?? 'vlm-compat'} takes only the flags ${accepted.map((name) => `--${name}`).join(', ')}` : `did you mean --${suggestion}?`;
    throw new UsageError(`unexpected argument "${extra}"${command === undefined ? '' : ` for ${command}`}; ${next}`);
  }
  return { command, flags, positional };
}
