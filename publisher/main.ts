#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { completionCommand } from "../shared/cli-completion.js";
import { readInvocation, reportFailure } from "../shared/cli-options.js";
import { createRootLogger } from "../shared/logging.js";
import { type CliIo, runBuild, runDelta, runFleet, runKeygen, runPublish, runServe, runWatch } from "./cli-run.js";
import { PUBLISHER_CLI } from "./cli-spec.js";
import { runDashboard } from "./dashboard/cli-dashboard.js";
import { runInspect, runReleases, runVerify } from "./inspect/cli-inspect.js";
import { runChannels, runKeys, runPromote, runRefresh, runRollout } from "./rollout/cli-rollout.js";
import { runWithdraw } from "./withdraw/cli-withdraw.js";

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const invocation = readInvocation(PUBLISHER_CLI, argv, packageVersion);
  if (invocation.kind === "print") {
    process.stdout.write(invocation.text);
    return invocation.exit;
  }
  const { command: first, values, positionals } = invocation;
  // Only long-running commands take over SIGINT; the others die of it as usual.
  const longRunning =
    first === "serve" ||
    first === "watch" ||
    first === "dashboard" ||
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
    case "dashboard":
      return runDashboard(values, io);
    case "watch":
      return runWatch(values, io, createRootLogger());
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
    case "inspect":
      return runInspect(values, positionals, io);
    case "verify":
      return runVerify(values, positionals, io);
    case "releases":
      return runReleases(values, io);
    case "completion":
      return completionCommand(PUBLISHER_CLI, positionals, io.out);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (thrown) => {
    process.exitCode = reportFailure("edge-publish", thrown, process.argv.slice(2), {
      stdout: (text) => process.stdout.write(text),
      stderr: (text) => process.stderr.write(text),
    });
  },
);
