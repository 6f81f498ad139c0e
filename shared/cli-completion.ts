import { type CliSpec, listedCommands, type OptionTable } from "./cli-options.js";
import { EdgeError } from "./errors.js";

/**
 * Shell completion scripts made from a program's CliSpec, so they list exactly
 * the commands and options the parser accepts and cannot drift from it.
 * Options that take a value complete file names (most are paths); flags
 * complete nothing after them.
 */

export const COMPLETION_SHELLS = ["bash", "zsh"] as const;
export type CompletionShell = (typeof COMPLETION_SHELLS)[number];

export function completionScript<C extends string>(spec: CliSpec<C>, shell: string): string {
  if (shell === "bash") return bashCompletion(spec);
  if (shell === "zsh") return zshCompletion(spec);
  throw new EdgeError("USAGE", `no completion for shell "${shell}": choose ${COMPLETION_SHELLS.join(" or ")}`);
}

/** The `completion SHELL` command both programs have: the script on stdout, to source or install. */
export function completionCommand<C extends string>(
  spec: CliSpec<C>,
  positionals: string[],
  out: (text: string) => void,
): number {
  const [shell, ...rest] = positionals;
  if (shell === undefined || rest.length > 0) {
    throw new EdgeError("USAGE", `usage: ${spec.program} completion (${COMPLETION_SHELLS.join(" | ")})`);
  }
  out(completionScript(spec, shell));
  return 0;
}

interface CommandShape {
  name: string;
  summary: string;
  flags: string[];
  valued: string[];
  words: readonly string[];
}

function shapes<C extends string>(spec: CliSpec<C>): CommandShape[] {
  const summaries = new Map(listedCommands(spec).map((c) => [c.name, c.summary]));
  return (Object.keys(spec.commands) as C[]).map((name) => {
    const options: OptionTable = { ...spec.common, ...spec.commands[name] };
    const entries = Object.entries(options);
    return {
      name,
      summary: summaries.get(name) ?? "",
      flags: entries.filter(([, o]) => o.type === "boolean").map(([n]) => `--${n}`),
      valued: entries.filter(([, o]) => o.type === "string").map(([n]) => `--${n}`),
      words: spec.positionalWords?.[name] ?? [],
    };
  });
}

const functionName = (program: string) => `_${program.replace(/[^A-Za-z0-9]/g, "_")}`;

function bashCompletion<C extends string>(spec: CliSpec<C>): string {
  const fn = functionName(spec.program);
  const commands = shapes(spec);
  const cases = commands
    .map((c) => {
      const lines = [`    ${c.name})`, `      opts="${[...c.flags, ...c.valued].sort().join(" ")}"`];
      if (c.valued.length > 0) lines.push(`      valued="${c.valued.join(" ")}"`);
      if (c.words.length > 0) lines.push(`      words="${c.words.join(" ")}"`);
      lines.push("      ;;");
      return lines.join("\n");
    })
    .join("\n");
  return `# bash completion for ${spec.program} (made by \`${spec.program} completion bash\`)
${fn}() {
  local cur prev cmd opts="" valued="" words=""
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    mapfile -t COMPREPLY < <(compgen -W "${commands.map((c) => c.name).join(" ")} help --help --version" -- "$cur")
    return 0
  fi
  cmd="\${COMP_WORDS[1]}"
  case "$cmd" in
${cases}
    help)
      words="${commands.map((c) => c.name).join(" ")}"
      ;;
    *) return 0 ;;
  esac
  case " $valued " in
    *" $prev "*)
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      return 0
      ;;
  esac
  if [[ "$cur" == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
  elif [ -n "$words" ]; then
    mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
  else
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  fi
  return 0
}
complete -o filenames -F ${fn} ${spec.program}
`;
}

/** zsh quotes: single quotes, with a literal one as '\''; colons separate _describe's name and text. */
const zshQuote = (text: string) => `'${text.replace(/'/g, "'\\''")}'`;

function zshCompletion<C extends string>(spec: CliSpec<C>): string {
  const fn = functionName(spec.program);
  const commands = shapes(spec);
  const described = commands.map((c) => `    ${zshQuote(`${c.name}:${c.summary.replace(/:/g, "\\:")}`)}`).join("\n");
  const cases = commands
    .map((c) => {
      const specs = [
        ...c.flags.map((f) => zshQuote(`${f}[${f.slice(2)}]`)),
        ...c.valued.map((f) => zshQuote(`${f}=[${f.slice(2)}]:value:_files`)),
      ];
      if (c.words.length > 0) specs.push(zshQuote(`1:${c.name}:(${c.words.join(" ")})`));
      else specs.push(zshQuote("*:file:_files"));
      return `    ${c.name})\n      _arguments ${specs.join(" \\\n        ")}\n      ;;`;
    })
    .join("\n");
  return `#compdef ${spec.program}
# zsh completion for ${spec.program} (made by \`${spec.program} completion zsh\`)
${fn}() {
  local -a commands
  commands=(
${described}
  )
  if (( CURRENT == 2 )); then
    _describe -t commands '${spec.program} command' commands
    return
  fi
  local cmd=$words[2]
  shift words
  (( CURRENT-- ))
  case $cmd in
${cases}
  esac
}
if [ "$funcstack[1]" = "${fn}" ]; then
  ${fn} "$@"
else
  compdef ${fn} ${spec.program}
fi
`;
}
