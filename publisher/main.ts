#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { completionCommand } from "../shared/cli-completion.js";
import { readInvocation, reportFailure } from "../shared/cli-options.js";
import type { CliIo } from "./cli-run.js";
import { PUBLISHER_CLI } from "./cli-spec.js";

// Each command's modules load when it runs: `--help`, `--version` and a usage
// error need none of them, and every command starts faster (mqtt.js, the
// bundle builder, the HTTP server and the dashboard are not all loaded for one).
const commands = () => import("./cli-run.js");
const rollout = () => import("./rollout/cli-rollout.js");
const inspect = () => import("./inspect/cli-inspect.js");

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
      return (await commands()).runKeygen(values, io);
    case "build":
      return (await commands()).runBuild(values, positionals, io);
    case "delta":
      return (await commands()).runDelta(values, io);
    case "publish":
      return (await commands()).runPublish(values, io);
    case "serve":
      return (await commands()).runServe(values, io);
    case "fleet":
      return (await commands()).runFleet(values, io);
    case "dashboard":
      return (await import("./dashboard/cli-dashboard.js")).runDashboard(values, io);
    case "watch":
      return (await commands()).runWatch(values, io, (await import("../shared/logging.js")).createRootLogger());
    case "promote":
      return (await rollout()).runPromote(values, io);
    case "channels":
      return (await rollout()).runChannels(values, io);
    case "refresh":
      return (await rollout()).runRefresh(values, io);
    case "rollout":
      return (await rollout()).runRollout(values, io);
    case "keys":
      return (await rollout()).runKeys(values, positionals, io);
    case "withdraw":
      return (await import("./withdraw/cli-withdraw.js")).runWithdraw(values, io);
    case "inspect":
      return (await inspect()).runInspect(values, positionals, io);
    case "verify":
      return (await inspect()).runVerify(values, positionals, io);
    case "releases":
      return (await inspect()).runReleases(values, io);
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
