import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StatusSnapshot } from "../agent/telemetry/status-snapshot.js";
import { writeExampleModel } from "../packaging/example-service/make-model.js";
import { buildRelease } from "../publisher/commands/build.js";
import { makeDeltas } from "../publisher/commands/delta.js";
import { keygen } from "../publisher/commands/keygen.js";
import { publishChannel } from "../publisher/commands/publish.js";
import { startRepoServer } from "../publisher/repo-server.js";

/**
 * `npm run demo`: a publisher, a repository server, one device (agent plus the
 * example inference service) on localhost. Install v1, update to v2, watch a
 * broken v3 fail its health check and roll back by itself.
 */
const here = import.meta.dirname;
const AGENT = join(here, "..", "agent", "main.js");
const SERVICE = join(here, "..", "packaging", "example-service", "server.js");
const NAME = "demo-model";
const MIB = 1024 * 1024;
const started = Date.now();

/** Bold headings on a terminal only: piped into a file or CI log, no escape codes. */
const BOLD = process.stdout.isTTY ? ["\x1b[1m", "\x1b[0m"] : ["", ""];

function say(text: string): void {
  process.stdout.write(`\n${BOLD[0]}== ${text}${BOLD[1]}  (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}

/** The commands a newcomer tries next, with this run's own paths (the workspace is kept). */
export function whatNext(paths: {
  root: string;
  configPath: string;
  repoDir: string;
  publicKeyPath: string;
  agent: string;
}): string {
  const agent = `node ${paths.agent} --config ${paths.configPath}`;
  const publish = `node ${join(paths.agent, "..", "..", "publisher", "main.js")}`;
  return [
    "What to try next (the workspace is kept; the agent is stopped):",
    `  ${agent} status            # what runs, what happened, why`,
    `  ${agent} history           # every attempt: result, error code, bytes, delta or bundle`,
    `  ${agent} verify            # re-hash the active version against its signed manifest`,
    `  ${agent} check --dry-run   # what the next check would do, changing nothing`,
    `  ${agent} run               # the daemon again (Ctrl-C stops it; the repository server is gone, so checks fail: serve it below)`,
    `  ${publish} serve --repo ${paths.repoDir} --port 0   # the repository again`,
    `  ${publish} releases --repo ${paths.repoDir}          # what the repository holds`,
    `  ${publish} inspect ${join(paths.repoDir, "releases", NAME, "2.0.0")} --keys ${paths.publicKeyPath}`,
    "  npm run make-model -- --help   # a model folder of your own for the example service",
    `  rm -rf ${paths.root}   # when done`,
  ].join("\n");
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function agentCli(args: string[], configPath: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [AGENT, ...args, "--config", configPath], { stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.on("close", (code) => resolve({ code, stdout }));
  });
}

async function waitForStatus(configPath: string, what: string, ok: (s: StatusSnapshot) => boolean): Promise<void> {
  const deadline = Date.now() + 45_000;
  while (Date.now() < deadline) {
    const r = await agentCli(["status", "--json"], configPath);
    try {
      if (ok(JSON.parse(r.stdout) as StatusSnapshot)) return;
    } catch {
      // not yet
    }
    await new Promise((res) => setTimeout(res, 250));
  }
  throw new Error(`demo: timed out waiting for ${what}`);
}

async function showStatus(configPath: string): Promise<void> {
  const r = await agentCli(["status"], configPath);
  process.stdout.write(r.stdout.replace(/^/gm, "   "));
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "edgepull-demo-"));
  say(`workspace ${root}`);
  const keys = await keygen({ outDir: join(root, "keys") });
  const repoDir = join(root, "repo");
  let previous: string | undefined;
  for (const [version, broken] of [
    ["1.0.0", false],
    ["2.0.0", false],
    ["3.0.0", true],
  ] as const) {
    const modelDir = join(root, "models", version);
    // Every version shares an 8 MiB backbone and gets a new classifier head: a fine-tune, as deltas see it.
    await writeExampleModel(modelDir, { version, seed: Number(version[0]), broken, extraBytes: 8 * MIB, paddingSeed: 7 });
    const built = await buildRelease({ modelDir, name: NAME, version, repoDir, keyPath: keys.privateKeyPath });
    process.stdout.write(
      `   built ${NAME} ${version}${broken ? " (broken on purpose: its config does not match its weights)" : ""}: ${built.release.bundle.size} bytes, sha256 ${built.release.bundle.sha256.slice(0, 16)}...\n`,
    );
    if (previous) {
      const made = await makeDeltas({ repoDir, name: NAME, from: [previous], to: version, keyPath: keys.privateKeyPath });
      for (const d of made.deltas)
        process.stdout.write(`   delta ${d.from} -> ${version}: ${d.size} bytes${d.offered ? "" : " (not offered)"}\n`);
    }
    previous = version;
  }
  const repo = await startRepoServer({ repoDir, port: 0, host: "127.0.0.1" });
  process.stdout.write(`   repository served at ${repo.url}\n`);

  const port = await freePort();
  const device = join(root, "device");
  await mkdir(device, { recursive: true });
  const configPath = join(device, "agent.json");
  await writeFile(
    configPath,
    JSON.stringify(
      {
        deviceId: "demo-device-1",
        dataDir: "data",
        name: NAME,
        channel: "stable",
        repository: repo.url,
        trustedKeys: [keys.publicKeyPath],
        pollIntervalSeconds: 1,
        service: { mode: "supervise", command: [process.execPath, SERVICE], env: { PORT: String(port) } },
        health: { url: `http://127.0.0.1:${port}/ready`, timeoutSeconds: 5, probationSeconds: 2 },
      },
      null,
      2,
    ),
  );

  say("publish 1.0.0 to stable and start the agent");
  await publishChannel({ repoDir, name: NAME, version: "1.0.0", channel: "stable", keyPath: keys.privateKeyPath });
  const log = createWriteStream(join(root, "agent.log"));
  const agent = spawn(process.execPath, [AGENT, "run", "--config", configPath], { stdio: ["ignore", "pipe", "pipe"] });
  agent.stdout.pipe(log);
  agent.stderr.pipe(log);
  process.stdout.write(`   agent pid ${agent.pid}, JSON logs in ${join(root, "agent.log")}\n`);
  try {
    await waitForStatus(configPath, "1.0.0 installed", (s) => s.activeVersion === "1.0.0" && s.phase === "idle" && s.health.ok);
    await showStatus(configPath);

    say(
      "publish 2.0.0: the agent downloads only the delta, rebuilds 2.0.0 beside 1.0.0, verifies, swaps, restarts and health-checks it",
    );
    await publishChannel({ repoDir, name: NAME, version: "2.0.0", channel: "stable", keyPath: keys.privateKeyPath });
    await waitForStatus(configPath, "2.0.0 installed", (s) => s.activeVersion === "2.0.0" && s.phase === "idle" && s.health.ok);
    await showStatus(configPath);

    say("publish 3.0.0 (broken): it never becomes ready, so the agent rolls back to 2.0.0 and deny-lists 3.0.0");
    await publishChannel({ repoDir, name: NAME, version: "3.0.0", channel: "stable", keyPath: keys.privateKeyPath });
    await waitForStatus(
      configPath,
      "3.0.0 rolled back",
      (s) => s.lastUpdate?.toVersion === "3.0.0" && s.phase === "idle" && s.health.ok,
    );
    await showStatus(configPath);

    say("edge-agent history");
    process.stdout.write((await agentCli(["history"], configPath)).stdout.replace(/^/gm, "   "));
  } finally {
    agent.kill("SIGTERM");
    await new Promise((res) => agent.once("exit", res));
    await repo.close();
  }
  say(`demo finished; files kept in ${root}`);
  process.stdout.write(`${whatNext({ root, configPath, repoDir, publicKeyPath: keys.publicKeyPath, agent: AGENT })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
