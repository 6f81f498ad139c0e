#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { readInvocation, reportFailure } from "../shared/cli-options.js";
import { EdgeError } from "../shared/errors.js";
import type { CliContext } from "./cli/context.js";
import { AGENT_CLI } from "./cli/spec.js";
import { DEFAULT_CONFIG_PATH } from "./config/default-path.js";

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/**
 * systemd socket activation (sd_listen_fds): the first passed socket is fd 3,
 * and only when LISTEN_PID names this process (so a child does not take it).
 */
function systemdListenFd(env: NodeJS.ProcessEnv): number | undefined {
  if (env.LISTEN_PID !== String(process.pid)) return undefined;
  const count = Number(env.LISTEN_FDS);
  return Number.isInteger(count) && count >= 1 ? 3 : undefined;
}

async function main(argv: string[]): Promise<number> {
  const invocation = readInvocation(AGENT_CLI, argv, packageVersion);
  if (invocation.kind === "print") {
    process.stdout.write(invocation.text);
    return invocation.exit;
  }
  const { command, values, positionals } = invocation;
  const configPath = typeof values.config === "string" ? values.config : DEFAULT_CONFIG_PATH;
  const json = values.json === true;
  const out = (text: string) => process.stdout.write(text);
  // Checks the file only: it must answer even for a config the other commands refuse.
  // Each command's modules load only when it runs: --version, --help and status start without the daemon's
  // libraries, and the daemon without the one-shot commands'.
  if (command === "config") {
    const { configCommand } = await import("./cli/config-check.js");
    return configCommand({ configPath, json, positionals, out });
  }
  if (command === "completion") {
    const { completionCommand } = await import("../shared/cli-completion.js");
    return completionCommand(AGENT_CLI, positionals, out);
  }

  const { loadConfig } = await import("./config.js");
  const { createRootLogger } = await import("./logging.js");
  const config = await loadConfig(configPath);
  const daemon = command === "run";
  // The daemon logs JSON to stdout for journald; one-shot commands keep stdout for their answer.
  const logger = daemon ? createRootLogger(config.logLevel, 1) : createRootLogger(values.verbose ? "info" : "warn", 2);
  const faultPoint = process.env.EDGEPULL_FAULT;
  const listenFd = daemon ? systemdListenFd(process.env) : undefined;
  const ctx: CliContext = {
    agentVersion: packageVersion(),
    agentOptions: {
      serviceOutput: daemon ? "stdout" : "stderr",
      ...(listenFd !== undefined ? { listenFd } : {}),
      fault: faultPoint
        ? (point) => {
            if (point !== faultPoint) return;
            logger.fatal({ point }, "EDGEPULL_FAULT: killing this process with SIGKILL");
            process.kill(process.pid, "SIGKILL");
          }
        : undefined,
    },
    config,
    json,
    positionals,
    flags: values as CliContext["flags"],
    logger,
    out,
    ...(process.stdout.isTTY && process.stdout.columns > 0 ? { columns: process.stdout.columns } : {}),
    progress: process.stderr,
  };
  switch (command) {
    case "run": {
      const stop = new Promise<void>((resolve) => {
        process.once("SIGTERM", () => resolve());
        process.once("SIGINT", () => resolve());
      });
      const { runDaemon } = await import("./cli/run.js");
      return runDaemon(ctx, stop);
    }
    case "status":
      return (await import("./cli/status.js")).statusCommand(ctx);
    case "history":
      return (await import("./cli/history.js")).historyCommand(ctx);
    case "verify":
      return (await import("./cli/verify.js")).verifyCommand(ctx);
    case "check":
      return (await import("./cli/check.js")).checkCommand(ctx);
    case "rollback":
      return (await import("./cli/rollback.js")).rollbackCommand(ctx);
    case "allow":
      return (await import("./cli/allow.js")).allowCommand(ctx);
    case "install":
      return (await import("./cli/install.js")).installCommand(ctx);
    case "hold":
      return (await import("./cli/hold.js")).holdCommand(ctx, true);
    case "release-hold":
      return (await import("./cli/hold.js")).holdCommand(ctx, false);
    default:
      throw new EdgeError("USAGE", `unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (thrown) => {
    process.exitCode = reportFailure("edge-agent", thrown, process.argv.slice(2), {
      stdout: (text) => process.stdout.write(text),
      stderr: (text) => process.stderr.write(text),
    });
  },
);
