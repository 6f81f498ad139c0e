#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { describeError, EdgeError, toEdgeError } from "../shared/errors.js";
import { allowCommand } from "./cli/allow.js";
import { checkCommand } from "./cli/check.js";
import { type CliContext, EXIT } from "./cli/context.js";
import { historyCommand } from "./cli/history.js";
import { holdCommand } from "./cli/hold.js";
import { installCommand } from "./cli/install.js";
import { rollbackCommand } from "./cli/rollback.js";
import { runDaemon } from "./cli/run.js";
import { statusCommand } from "./cli/status.js";
import { verifyCommand } from "./cli/verify.js";
import { DEFAULT_CONFIG_PATH, loadConfig } from "./config.js";
import { createRootLogger } from "./logging.js";

const HELP: Record<string, string> = {
  "": `edge-agent: pull-based model updates for this device

Usage: edge-agent <command> [--config FILE] [options]

Commands:
  run        run the update daemon (polls, installs, health-checks, rolls back)
  status     what runs, what happened and why (works with the daemon down)
  history    past updates with results, error codes, timings and bytes
  verify     re-hash the active version against its signed manifest
  check      poll once now, install anything new, exit with the result
  rollback   go back to the previous version, health-checked like an update
  allow      take a version off the deny-list (VERSION or --all)
  hold       hold updates while servicing the device (--reason TEXT); release-hold lifts it
  install    install a bundle from a file or folder (offline), verified and health-checked

Every command takes --config FILE (default ${DEFAULT_CONFIG_PATH}) and --help.
Exit codes: 0 ok/healthy, 1 failed/degraded, 2 usage or configuration error, 3 device busy.
edge-agent --version prints the version.
`,
  run: "Usage: edge-agent run [--config FILE]\nRuns the daemon in the foreground; logs JSON to stdout; stops on SIGTERM or SIGINT.\n",
  status:
    "Usage: edge-agent status [--config FILE] [--json]\nDevice, active and previous version, phase, last check, last update, deny-list, service health now, free disk.\nExit 0 when healthy, 1 when degraded (the problems are listed).\n",
  history:
    "Usage: edge-agent history [--config FILE] [--json] [--limit N]\nPast updates, newest first: from, to, result, error code, timings, bytes.\n",
  verify:
    "Usage: edge-agent verify [--config FILE] [--json] [--version V]\nRe-hashes the active version (or V) against its signed manifest; exit 1 and the differing files when it does not match.\n",
  check:
    "Usage: edge-agent check [--config FILE] [--json] [--verbose]\nPolls the channel once, installs anything new, exits 0 when up to date or updated, 1 when the update failed.\nUses the running daemon when there is one.\n",
  rollback:
    "Usage: edge-agent rollback [--config FILE] [--json] [--verbose]\nReturns to the previous version with the same health check as an update. The version left is deny-listed until allowed again.\n",
  hold: "Usage: edge-agent hold [--reason TEXT] [--config FILE] [--json]\nNo new update starts until edge-agent release-hold (an attempt already running finishes).\n",
  "release-hold": "Usage: edge-agent release-hold [--config FILE] [--json]\nLifts the hold set by edge-agent hold.\n",
  install:
    "Usage: edge-agent install BUNDLE_OR_FOLDER [--config FILE] [--json]\nInstalls a bundle carried to the device (USB stick, laptop): its signed manifest must be signed by a trusted key; staged, verified, health-checked and rolled back exactly like a download.\n",
  allow: "Usage: edge-agent allow (VERSION | --all) [--config FILE] [--json]\nTakes a version (or all) off the deny-list.\n",
};

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

function exitCodeFor(err: EdgeError): number {
  if (err.code === "USAGE" || err.code === "CONFIG_INVALID") return EXIT.USAGE;
  if (err.code === "AGENT_BUSY") return EXIT.BUSY;
  return EXIT.FAILED;
}

async function main(argv: string[]): Promise<number> {
  // `--version` alone is the program's version; `verify --version V` names a model version.
  if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-V")) {
    process.stdout.write(`${packageVersion()}\n`);
    return EXIT.OK;
  }
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    throw new EdgeError("USAGE", `${(err as Error).message} (see edge-agent --help)`);
  }
  const { values, positionals } = parsed;
  const command = positionals[0] ?? "";
  if (values.help || command === "help" || command === "") {
    process.stdout.write(HELP[command === "help" ? (positionals[1] ?? "") : command] ?? HELP[""] ?? "");
    return command === "" && !values.help ? EXIT.USAGE : EXIT.OK;
  }
  if (!(command in HELP)) throw new EdgeError("USAGE", `unknown command "${command}" (see edge-agent --help)`);

  const config = await loadConfig(values.config ?? DEFAULT_CONFIG_PATH);
  const daemon = command === "run";
  // The daemon logs JSON to stdout for journald; one-shot commands keep stdout for their answer.
  const logger = daemon ? createRootLogger(config.logLevel, 1) : createRootLogger(values.verbose ? "info" : "warn", 2);
  const faultPoint = process.env.EDGEPULL_FAULT;
  const ctx: CliContext = {
    agentVersion: packageVersion(),
    agentOptions: {
      serviceOutput: daemon ? "stdout" : "stderr",
      fault: faultPoint
        ? (point) => {
            if (point !== faultPoint) return;
            logger.fatal({ point }, "EDGEPULL_FAULT: killing this process with SIGKILL");
            process.kill(process.pid, "SIGKILL");
          }
        : undefined,
    },
    config,
    json: values.json ?? false,
    positionals: positionals.slice(1),
    flags: values,
    logger,
    out: (text) => process.stdout.write(text),
  };
  switch (command) {
    case "run": {
      const stop = new Promise<void>((resolve) => {
        process.once("SIGTERM", () => resolve());
        process.once("SIGINT", () => resolve());
      });
      return runDaemon(ctx, stop);
    }
    case "status":
      return statusCommand(ctx);
    case "history":
      return historyCommand(ctx);
    case "verify":
      return verifyCommand(ctx);
    case "check":
      return checkCommand(ctx);
    case "rollback":
      return rollbackCommand(ctx);
    case "allow":
      return allowCommand(ctx);
    case "install":
      return installCommand(ctx);
    case "hold":
      return holdCommand(ctx, true);
    case "release-hold":
      return holdCommand(ctx, false);
    default:
      throw new EdgeError("USAGE", `unknown command "${command}"`);
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: "string", short: "c" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
      version: { type: "string" },
      verbose: { type: "boolean", short: "v" },
      limit: { type: "string" },
      all: { type: "boolean" },
      reason: { type: "string" },
    },
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (thrown) => {
    const err = toEdgeError(thrown);
    process.stderr.write(`edge-agent: ${describeError(err)}\n`);
    process.exitCode = exitCodeFor(err);
  },
);
