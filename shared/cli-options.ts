import { type ParseArgsConfig, parseArgs } from "node:util";
import { describeError, EdgeError, errorJson, toEdgeError } from "./errors.js";
import { EXIT, exitCodeFor } from "./exit-codes.js";

/**
 * The command-line pattern both binaries follow: options every command takes,
 * plus each command's own table; a command parses only those, so a flag of
 * another command is a usage error, never silently ignored.
 */
export type OptionTable = NonNullable<ParseArgsConfig["options"]>;
export type CliFlags = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface CliSpec<C extends string> {
  program: string;
  /** Options of every command (at least `help`). */
  common: OptionTable;
  /** Each command's own options. */
  commands: Record<C, OptionTable>;
  /** The commands that take arguments besides options. */
  withArguments: readonly C[];
  /** Help per command; "" is the program's. */
  help: Record<C | "", string>;
  /** Options that take a whole number, with its bounds: refused at parse time, before anything is read. */
  integers?: Partial<Record<C, Record<string, readonly [min: number, max: number]>>>;
  /** The words a command's first argument can be, where it is one of a few (for shell completion). */
  positionalWords?: Partial<Record<C, readonly string[]>>;
}

/** The commands the program's help lists under "Commands:", with their one-line summaries. */
export function listedCommands<C extends string>(spec: CliSpec<C>): { name: string; summary: string }[] {
  const section = spec.help[""].split("\nCommands:\n")[1]?.split("\n\n")[0] ?? "";
  return section
    .split("\n")
    .map((line) => /^ {2}([a-z][a-z-]*)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[1] as string, summary: (m[2] as string).trim() }));
}

/** What to do: print `text` and exit with `exit` (help, version), or run `command`. */
export type Invocation<C extends string> =
  | { kind: "print"; text: string; exit: number }
  | { kind: "run"; command: C; values: CliFlags; positionals: string[] };

export function readInvocation<C extends string>(spec: CliSpec<C>, argv: string[], version: () => string): Invocation<C> {
  const first = argv[0];
  // `--version` alone is the program's version; `verify --version V` or `build --version V` name a model version.
  if (argv.length === 1 && (first === "--version" || first === "-V")) {
    return { kind: "print", text: `${version()}\n`, exit: EXIT.OK };
  }
  const isCommand = (name: string): name is C => Object.hasOwn(spec.commands, name);
  if (first === undefined || first === "--help" || first === "-h" || first === "help") {
    const topic = first === "help" ? (argv[1] ?? "") : "";
    return { kind: "print", text: isCommand(topic) ? spec.help[topic] : spec.help[""], exit: first ? EXIT.OK : EXIT.USAGE };
  }
  if (!isCommand(first)) throw new EdgeError("USAGE", `unknown command "${first}" (see ${spec.program} --help)`);
  const parsed = parseCommandArgs(spec, first, argv.slice(1));
  if (parsed.values.help) return { kind: "print", text: spec.help[first], exit: EXIT.OK };
  return { kind: "run", command: first, ...parsed };
}

/**
 * Parses one command's arguments with the project's own one-line USAGE errors:
 * Node's strict parser explains itself in messages with unbalanced quotes and
 * hints meant for programmers, so the parser runs lax and every token is
 * judged here instead.
 */
function parseCommandArgs<C extends string>(
  spec: CliSpec<C>,
  command: C,
  args: string[],
): { values: CliFlags; positionals: string[] } {
  const options = { ...spec.common, ...spec.commands[command] };
  const see = `(see ${spec.program} ${command} --help)`;
  const { values, positionals, tokens } = parseArgs({ args, options, allowPositionals: true, strict: false, tokens: true });
  const isOption = (arg: string): boolean =>
    arg.startsWith("--")
      ? Object.hasOwn(options, arg.slice(2).split("=")[0] ?? "")
      : Object.values(options).some((o) => o.short !== undefined && arg === `-${o.short}`);
  for (const token of tokens) {
    if (token.kind !== "option") continue;
    const option = Object.hasOwn(options, token.name) ? options[token.name] : undefined;
    if (!option) throw new EdgeError("USAGE", `${command} has no option ${token.rawName} ${see}`);
    if (option.type === "boolean" && token.value !== undefined) {
      throw new EdgeError("USAGE", `${token.rawName} takes no value (found ${JSON.stringify(token.value)}) ${see}`);
    }
    if (option.type === "string" && (token.value === undefined || (!token.inlineValue && isOption(token.value)))) {
      throw new EdgeError("USAGE", `${token.rawName} needs a value ${see}`);
    }
  }
  for (const [name, [min, max]] of Object.entries(spec.integers?.[command] ?? {})) {
    const value = values[name];
    if (typeof value === "string") integerFlag(value, name, min, max);
  }
  if (positionals.length > 0 && !spec.withArguments.includes(command)) {
    throw new EdgeError("USAGE", `${command} takes no arguments (found ${JSON.stringify(positionals[0])}) ${see}`);
  }
  return { values: values as CliFlags, positionals };
}

/** The one line a failed command prints on stderr: `program: CODE: message`. */
export function errorLine(program: string, message: string): string {
  return `${program}: ${message.replace(/\s*\n\s*/g, " ")}\n`;
}

/** A whole-number option within [min, max]; undefined when absent. USAGE names the option otherwise. */
export function integerFlag(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw new EdgeError("USAGE", `--${flag} must be an integer from ${min} to ${max} (found ${JSON.stringify(value)})`);
  }
  return n;
}

/**
 * What a failed command leaves behind, the same for both binaries: one line on
 * stderr and, with --json anywhere in the arguments (even ones that did not
 * parse), `{"error": {"code", "message"}}` as the only thing on stdout, so
 * `| jq .error.code` works. Returns the exit code.
 */
export function reportFailure(
  program: string,
  thrown: unknown,
  argv: readonly string[],
  io: { stdout: (text: string) => void; stderr: (text: string) => void },
): number {
  const err = toEdgeError(thrown);
  if (argv.includes("--json")) io.stdout(`${JSON.stringify(errorJson(err))}\n`);
  io.stderr(errorLine(program, describeError(err)));
  return exitCodeFor(err);
}
