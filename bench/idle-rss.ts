import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeExampleModel } from "../packaging/example-service/make-model.js";
import { buildRelease } from "../publisher/commands/build.js";
import { keygen } from "../publisher/commands/keygen.js";
import { publishChannel } from "../publisher/commands/publish.js";
import { startRepoServer } from "../publisher/repo-server.js";
import { AGENT_BIN, type BenchResult, median, rssKiB } from "./common.js";

/**
 * RSS split as the kernel counts it: anonymous (heap, JS heap, malloc) and
 * file-backed (mostly the node binary's own code and data, paged in as the
 * process uses more of Node; shared with any other node process).
 */
function residentPartsKiB(pid: number): { anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string): number => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN);
  return { anon: field("RssAnon"), file: field("RssFile") };
}

interface RssSample {
  rssKiB: number;
  anonKiB: number;
  fileKiB: number;
}

async function sampleRss(pid: number, settleMs: number, samples: number): Promise<RssSample> {
  await new Promise((r) => setTimeout(r, settleMs));
  const values: number[] = [];
  const anon: number[] = [];
  const file: number[] = [];
  for (let i = 0; i < samples; i++) {
    values.push(rssKiB(pid));
    const parts = residentPartsKiB(pid);
    anon.push(parts.anon);
    file.push(parts.file);
    await new Promise((r) => setTimeout(r, 1000));
  }
  return { rssKiB: median(values), anonKiB: median(anon), fileKiB: median(file) };
}

const mib = (kib: number): number => Number((kib / 1024).toFixed(1));

/** Resident memory of the idle daemon (a version installed, polling) against a bare `node` process. */
export async function benchIdleRss(): Promise<BenchResult> {
  const root = await mkdtemp(join(tmpdir(), "edgepull-bench-rss-"));
  const health = createServer((_q, r) => r.end("ok"));
  await new Promise<void>((r) => health.listen(0, "127.0.0.1", r));
  const port = (health.address() as { port: number }).port;
  const keys = await keygen({ outDir: join(root, "keys") });
  const repoDir = join(root, "repo");
  await writeExampleModel(join(root, "model"), { version: "1.0.0", seed: 3 });
  await buildRelease({ modelDir: join(root, "model"), name: "bench", version: "1.0.0", repoDir, keyPath: keys.privateKeyPath });
  await publishChannel({ repoDir, name: "bench", version: "1.0.0", channel: "stable", keyPath: keys.privateKeyPath });
  const repo = await startRepoServer({ repoDir, port: 0, host: "127.0.0.1" });
  const configPath = join(root, "agent.json");
  await writeFile(
    configPath,
    JSON.stringify({
      deviceId: "bench",
      dataDir: "data",
      name: "bench",
      channel: "stable",
      repository: repo.url,
      trustedKeys: [keys.publicKeyPath],
      pollIntervalSeconds: 5,
      service: { mode: "command", command: ["true"] },
      health: { url: `http://127.0.0.1:${port}/`, timeoutSeconds: 10, probationSeconds: 1 },
      logLevel: "warn",
    }),
  );
  const agent = spawn(process.execPath, [AGENT_BIN, "run", "--config", configPath], { stdio: "ignore" });
  const bare = spawn(process.execPath, ["-e", "setInterval(() => {}, 1e9)"], { stdio: "ignore" });
  try {
    const [agentRss, bareRss] = await Promise.all([
      sampleRss(agent.pid as number, 8000, 10),
      sampleRss(bare.pid as number, 8000, 10),
    ]);
    const agentKiB = agentRss.rssKiB;
    const bareKiB = bareRss.rssKiB;
    return {
      name: "idle RSS of the agent daemon",
      summary:
        `agent ${(agentKiB / 1024).toFixed(1)} MiB vs bare node ${(bareKiB / 1024).toFixed(1)} MiB: ratio ${(agentKiB / bareKiB).toFixed(2)} ` +
        `(anonymous ${mib(agentRss.anonKiB)} vs ${mib(bareRss.anonKiB)} MiB, file-backed ${mib(agentRss.fileKiB)} vs ${mib(bareRss.fileKiB)} MiB)`,
      figures: {
        agentRssMiB: mib(agentKiB),
        bareNodeRssMiB: mib(bareKiB),
        ratio: Number((agentKiB / bareKiB).toFixed(2)),
        agentAnonMiB: mib(agentRss.anonKiB),
        agentFileBackedMiB: mib(agentRss.fileKiB),
        bareNodeAnonMiB: mib(bareRss.anonKiB),
        bareNodeFileBackedMiB: mib(bareRss.fileKiB),
      },
    };
  } finally {
    agent.kill("SIGTERM");
    bare.kill("SIGKILL");
    await new Promise((r) => agent.once("exit", r));
    await repo.close();
    await new Promise((r) => health.close(r));
    await rm(root, { recursive: true, force: true });
  }
}
