import { spawn } from "node:child_process";
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

async function sampleRss(pid: number, settleMs: number, samples: number): Promise<number> {
  await new Promise((r) => setTimeout(r, settleMs));
  const values: number[] = [];
  for (let i = 0; i < samples; i++) {
    values.push(rssKiB(pid));
    await new Promise((r) => setTimeout(r, 1000));
  }
  return median(values);
}

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
    const [agentKiB, bareKiB] = await Promise.all([
      sampleRss(agent.pid as number, 8000, 10),
      sampleRss(bare.pid as number, 8000, 10),
    ]);
    return {
      name: "idle RSS of the agent daemon",
      summary: `agent ${(agentKiB / 1024).toFixed(1)} MiB vs bare node ${(bareKiB / 1024).toFixed(1)} MiB: ratio ${(agentKiB / bareKiB).toFixed(2)}`,
      figures: {
        agentRssMiB: Number((agentKiB / 1024).toFixed(1)),
        bareNodeRssMiB: Number((bareKiB / 1024).toFixed(1)),
        ratio: Number((agentKiB / bareKiB).toFixed(2)),
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
