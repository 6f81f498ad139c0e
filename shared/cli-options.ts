import { type ParseArgsConfig, parseArgs } from "node:util";
import { EdgeError } from "./errors.js";
import { EXIT } from "./exit-codes.js";

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
  let parsed: { values: CliFlags; positionals: string[] };
  try {
    parsed = parseArgs({
      args: argv.slice(1),
      options: { ...spec.common, ...spec.commands[first] },
      allowPositionals: spec.withArguments.includes(first),
      strict: true,
    }) as typeof parsed;
  } catch (err) {
    throw new EdgeError("USAGE", `${(err as Error).message} (see ${spec.program} ${first} --help)`);
  }
  if (parsed.values.help) return { kind: "print", text: spec.help[first], exit: EXIT.OK };
  return { kind: "run", command: first, ...parsed };
}

/** The one line a failed command prints on stderr: `program: CODE: message`. */
export function errorLine(program: string, message: string): string {
  return `${program}: ${message.replace(/\s*\n\s*/g, " ")}\n`;
}
