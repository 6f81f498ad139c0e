#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { type ParseArgsConfig, parseArgs } from "node:util";
import { type Logger, pino } from "pino";
import { describeError, EdgeError, toEdgeError } from "../shared/errors.js";
import { type CliIo, type Flags, runBuild, runDelta, runFleet, runKeygen, runPublish, runServe, runWatch } from "./cli-run.js";
import { COMMAND_OPTIONS, COMMON_OPTIONS, HELP, isCommand } from "./cli-spec.js";
import { runChannels, runKeys, runPromote, runRefresh, runRollout } from "./rollout/cli-rollout.js";
import { runWithdraw } from "./withdraw/cli-withdraw.js";

const EXIT_USAGE = 2;
const EXIT_FAILED = 1;

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/**
 * JSON lines on stdout for the long-running watch, the same shape as the agent's:
 * written synchronously so the last lines before a crash are not lost in a buffer.
 */
function createLogger(): Logger {
  return pino(
    {
      level: "info",
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 1, sync: true }),
  );
}

async function main(argv: string[]): Promise<number> {
  // `--version` alone is the program's version; `build --version V` names a model version.
  if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-V")) {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const first = argv[0];
  if (first === undefined || first === "--help" || first === "-h" || first === "help") {
    const topic = first === "help" ? (argv[1] ?? "") : "";
    process.stdout.write(isCommand(topic) ? HELP[topic] : HELP[""]);
    return first === undefined ? EXIT_USAGE : 0;
  }
  if (!isCommand(first)) throw new EdgeError("USAGE", `unknown command "${first}" (see edge-publish --help)`);

  let parsed: { values: Flags; positionals: string[] };
  try {
    // Each command parses only its own flags, so a flag of another command is an error, not ignored.
    const options: ParseArgsConfig["options"] = { ...COMMON_OPTIONS, ...COMMAND_OPTIONS[first] };
    parsed = parseArgs({
      args: argv.slice(1),
      options,
      allowPositionals: first === "build" || first === "keys",
      strict: true,
    });
  } catch (err) {
    throw new EdgeError("USAGE", `${(err as Error).message} (see edge-publish ${first} --help)`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP[first]);
    return 0;
  }
  // Only long-running commands take over SIGINT; the others die of it as usual.
  const longRunning =
    first === "serve" ||
    first === "watch" ||
    (first === "fleet" && values.watch === true) ||
    (first === "rollout" && values["halt-on-failures"] !== undefined);
  const io: CliIo = {
    json: values.json === true,
    out: (text) => process.stdout.write(text),
    progressStream: process.stderr,
    warn: (text) => process.stderr.write(text),
    isTty: process.stdout.isTTY === true,
    stopRequested: new Promise<void>((resolve) => {
      if (!longRunning) return;
      process.once("SIGINT", () => resolve());
      process.once("SIGTERM", () => resolve());
    }),
  };
  switch (first) {
    case "keygen":
      return runKeygen(values, io);
    case "build":
      return runBuild(values, positionals, io);
    case "delta":
      return runDelta(values, io);
    case "publish":
      return runPublish(values, io);
    case "serve":
      return runServe(values, io);
    case "fleet":
      return runFleet(values, io);
    case "watch":
      return runWatch(values, io, createLogger());
    case "promote":
      return runPromote(values, io);
    case "channels":
      return runChannels(values, io);
    case "refresh":
      return runRefresh(values, io);
    case "rollout":
      return runRollout(values, io);
    case "keys":
      return runKeys(values, positionals, io);
    case "withdraw":
      return runWithdraw(values, io);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (thrown) => {
    const err = toEdgeError(thrown);
    process.stderr.write(`edge-publish: ${describeError(err).replace(/\s*\n\s*/g, " ")}\n`);
    process.exitCode = err.code === "USAGE" ? EXIT_USAGE : EXIT_FAILED;
  },
);
