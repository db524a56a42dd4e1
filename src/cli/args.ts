// Strict flag parsing for the CLI: every flag is declared with its type; unknown or malformed flags are a
// one-line UsageError (the CLI prints it with the command's usage and exits 2). `-h` is `--help`, and a
// help request wins over every other flag, as in most command lines.

export class UsageError extends Error {
  /** The command the message is about when it is narrower than the top-level one (`data show`). */
  readonly command: string | undefined;
  constructor(message: string, options: { command?: string } = {}) {
    super(message);
    this.name = "UsageError";
    this.command = options.command;
  }
}

/** Edit distance (insertions, deletions, substitutions, and swaps of two neighbours: `trian` is 1 from `train`). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidate a mistyped `word` most likely meant (within 2 edits, fewer for short words, or a unique
 * prefix of at least 2 letters), or null. */
export function closestMatch(word: string, candidates: readonly string[]): string | null {
  const w = word.toLowerCase();
  const limit = w.length <= 3 ? 1 : 2;
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const distance = editDistance(w, c.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [c, distance];
  }
  if (best !== null && bestDistance <= limit) return best;
  const prefixed = w.length >= 2 ? candidates.filter((c) => c.toLowerCase().startsWith(w)) : [];
  return prefixed.length === 1 ? prefixed[0]! : null;
}

/** `; did you mean X?` for a mistyped word (X with `prefix`, e.g. "--"), or "". */
export function didYouMean(word: string, candidates: readonly string[], prefix = ""): string {
  const match = closestMatch(word, candidates);
  return match === null ? "" : `; did you mean ${prefix}${match}?`;
}

export type FlagType = "string" | "int" | "number" | "boolean";

export interface FlagSpec {
  type: FlagType;
  /** One line for the usage text. */
  help: string;
  default?: string | number | boolean;
  /** Allowed values for string flags. */
  choices?: readonly string[];
  /** Lower bound for int/number flags. */
  min?: number;
}

export type FlagSpecs = Record<string, FlagSpec>;
export type ParsedFlags = Record<string, string | number | boolean | undefined>;

export interface Parsed {
  flags: ParsedFlags;
  positional: string[];
}

/** true when argv asks for help (`-h` or `--help` before any `--`). */
export function wantsHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf("--");
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === "-h" || a === "--help");
}

/** Parses `--name value`, `--name=value` and boolean `--name`; `--` ends flags. With a `help` flag among
 * the specs, `-h`/`--help` anywhere returns just { help: true } (defaults otherwise), so a typo elsewhere on
 * the line cannot hide the usage. */
export function parseArgs(argv: readonly string[], specs: FlagSpecs): Parsed {
  const flags: ParsedFlags = {};
  for (const [name, spec] of Object.entries(specs)) flags[name] = spec.default;
  if (specs.help && wantsHelp(argv)) return { flags: { ...flags, help: true }, positional: [] };
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("--")) {
      if (arg.startsWith("-") && arg.length > 1 && !/^-\d/.test(arg)) {
        throw new UsageError(`unknown flag '${arg}'`);
      }
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const spec = specs[name];
    if (!spec) throw new UsageError(`unknown flag '--${name}'${didYouMean(name, Object.keys(specs), "--")}`);
    if (spec.type === "boolean") {
      if (eq >= 0) {
        const v = arg.slice(eq + 1);
        if (v !== "true" && v !== "false") throw new UsageError(`--${name} takes no value (or =true/=false)`);
        flags[name] = v === "true";
      } else flags[name] = true;
      continue;
    }
    let raw: string | undefined;
    if (eq >= 0) raw = arg.slice(eq + 1);
    else {
      raw = argv[i + 1];
      if (raw === undefined || raw.startsWith("--")) throw new UsageError(`--${name} needs a value`);
      i++;
    }
    flags[name] = convert(name, spec, raw);
  }
  return { flags, positional };
}

function convert(name: string, spec: FlagSpec, raw: string): string | number {
  if (spec.type === "string") {
    if (spec.choices && !spec.choices.includes(raw)) {
      throw new UsageError(`--${name} must be one of ${spec.choices.join(", ")} (got '${raw}')`);
    }
    return raw;
  }
  const value = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(value)) {
    throw new UsageError(`--${name} needs a number (got '${raw}')`);
  }
  if (spec.type === "int" && !Number.isInteger(value)) {
    throw new UsageError(`--${name} needs a whole number (got '${raw}')`);
  }
  if (spec.min !== undefined && value < spec.min) {
    throw new UsageError(`--${name} must be at least ${spec.min} (got ${raw})`);
  }
  return value;
}

/** The usage text of one command: its synopsis and one line per flag. */
export function usage(command: string, synopsis: string, specs: FlagSpecs): string {
  const lines = [`usage: alexnet ${command} ${synopsis}`.trimEnd()];
  for (const [name, spec] of Object.entries(specs)) {
    const value = spec.type === "boolean" ? "" : spec.choices ? ` ${spec.choices.join("|")}` : ` <${spec.type}>`;
    const def = spec.default !== undefined && spec.type !== "boolean" ? ` (default ${String(spec.default)})` : "";
    lines.push(`  --${name}${value}`.padEnd(34) + ` ${spec.help}${def}`);
  }
  return lines.join("\n");
}

/** A CLI subcommand: parse its own argv, return the process exit code (its one-line summary is in main.ts's
 * command table, which lists commands without loading them). */
export interface Command {
  name: string;
  run(argv: string[]): Promise<number>;
}

/** Whether a synopsis names arguments besides flags: anything left after `[flags]` and `--flag VALUE`
 * (`--checkpoint PATH [IMAGE...] [flags]` names IMAGE...; `[flags]` names none). */
export function synopsisTakesArguments(synopsis: string): boolean {
  return synopsis.replace(/\[flags\]/g, "").replace(/\[?--[\w-]+(?:[ =][A-Z][A-Z_]*)?\]?/g, "").trim().length > 0;
}

/** The error for an argument a command does not take (a flag name without its dashes is pointed at). */
export function unexpectedArgument(arg: string, specs: FlagSpecs, command?: string): UsageError {
  return new UsageError(`unexpected argument '${arg}'${didYouMean(arg, Object.keys(specs), "--")}`, { command });
}

/** A command's flags parsed, with --help answered: null when the usage was printed (the command returns 0).
 * Arguments that are not flags are refused unless the synopsis names some (or `positional: true`). */
export function parseCommand(name: string, synopsis: string, argv: readonly string[], specs: FlagSpecs,
  options: { positional?: boolean } = {}): Parsed | null {
  const parsed = parseArgs(argv, specs);
  if (parsed.flags.help) {
    console.log(usage(name, synopsis, specs));
    return null;
  }
  const positional = options.positional ?? synopsisTakesArguments(synopsis);
  if (!positional && parsed.positional.length) throw unexpectedArgument(parsed.positional[0]!, specs);
  return parsed;
}

/** A command from its name, synopsis, flags and body: --help and stray arguments (those the synopsis does
 * not name) handled before the body runs. */
export function defineCommand(name: string, synopsis: string, specs: FlagSpecs, body: (parsed: Parsed, argv: string[]) => Promise<number>,
  options: { positional?: boolean } = {}): Command {
  return {
    name,
    async run(argv) {
      const parsed = parseCommand(name, synopsis, argv, specs, options);
      return parsed ? body(parsed, argv) : 0;
    },
  };
}
