import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeExampleModel } from "../packaging/example-service/make-model.js";
import { buildRelease } from "../publisher/commands/build.js";
import { keygen } from "../publisher/commands/keygen.js";
import { publishChannel } from "../publisher/commands/publish.js";
import { startRepoServer } from "../publisher/repo-server.js";
import { AGENT_BIN, type BenchResult, median, SERVICE_BIN } from "./common.js";

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function untilReady(url: string, timeoutMs: number): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return performance.now() - start;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms`);
}

/** The example service's own start-to-ready time, probed every 10 ms. */
async function serviceStartMs(modelDir: string, runs: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const port = await freePort();
    const child = spawn(process.execPath, [SERVICE_BIN], {
      env: { ...process.env, PORT: String(port), EDGEPULL_MODEL_DIR: modelDir },
      stdio: "ignore",
    });
    times.push(await untilReady(`http://127.0.0.1:${port}/ready`, 20_000));
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  }
  return median(times);
}

function logLines(child: ChildProcess): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  let buf = "";
  child.stdout?.on("data", (d: Buffer) => {
    buf += d.toString();
    let nl = buf.indexOf("\n");
    while (nl >= 0) {
      try {
        lines.push(JSON.parse(buf.slice(0, nl)));
      } catch {
        // service output
      }
      buf = buf.slice(nl + 1);
      nl = buf.indexOf("\n");
    }
  });
  return lines;
}

/**
 * From the moment the agent declares a new version failed (health timeout) to
 * the previous version answering /ready again, minus the service's own start
 * time: what the agent itself adds to an outage.
 */
export async function benchRollbackTime(runs: number): Promise<BenchResult> {
  const root = await mkdtemp(join(tmpdir(), "edgepull-bench-rollback-"));
  try {
    const keys = await keygen({ outDir: join(root, "keys") });
    const repoDir = join(root, "repo");
    await writeExampleModel(join(root, "m1"), { version: "1.0.0", seed: 1 });
    await buildRelease({ modelDir: join(root, "m1"), name: "bench", version: "1.0.0", repoDir, keyPath: keys.privateKeyPath });
    const ownStart = await serviceStartMs(join(root, "m1"), 5);
    const repo = await startRepoServer({ repoDir, port: 0, host: "127.0.0.1" });
    const overheads: number[] = [];
    const totals: number[] = [];
    try {
      for (let run = 0; run < runs; run++) {
        const broken = `2.0.${run}`;
        await writeExampleModel(join(root, `m-${broken}`), { version: broken, seed: 2 + run, broken: true });
        await buildRelease({
          modelDir: join(root, `m-${broken}`),
          name: "bench",
          version: broken,
          repoDir,
          keyPath: keys.privateKeyPath,
        });
        await publishChannel({ repoDir, name: "bench", version: "1.0.0", channel: `c${run}`, keyPath: keys.privateKeyPath });
        const port = await freePort();
        const device = join(root, `device-${run}`);
        const configPath = join(root, `agent-${run}.json`);
        await writeFile(
          configPath,
          JSON.stringify({
            deviceId: `bench-${run}`,
            dataDir: device,
            name: "bench",
            channel: `c${run}`,
            repository: repo.url,
            trustedKeys: [keys.publicKeyPath],
            pollIntervalSeconds: 1,
            pollJitterFraction: 0,
            service: { mode: "supervise", command: [process.execPath, SERVICE_BIN], env: { PORT: String(port) } },
            health: { url: `http://127.0.0.1:${port}/ready`, timeoutSeconds: 2, probationSeconds: 1, intervalMs: 50 },
          }),
        );
        const agent = spawn(process.execPath, [AGENT_BIN, "run", "--config", configPath], {
          stdio: ["ignore", "pipe", "ignore"],
        });
        const lines = logLines(agent);
        const waitLog = async (pred: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> => {
          for (let i = 0; i < 600; i++) {
            const hit = lines.find(pred);
            if (hit) return hit;
            await new Promise((r) => setTimeout(r, 50));
          }
          throw new Error("agent log line never came");
        };
        await waitLog((l) => l.msg === "update committed");
        await publishChannel({ repoDir, name: "bench", version: broken, channel: `c${run}`, keyPath: keys.privateKeyPath });
        const failed = await waitLog((l) => l.msg === "attempt phase failed" && l.code === "HEALTH_TIMEOUT");
        await untilReady(`http://127.0.0.1:${port}/ready`, 30_000);
        const readyAt = Date.now();
        const total = readyAt - Date.parse(String(failed.time));
        totals.push(total);
        overheads.push(total - ownStart);
        agent.kill("SIGTERM");
        await new Promise((r) => agent.once("exit", r));
      }
    } finally {
      await repo.close();
    }
    const total = median(totals);
    const overhead = median(overheads);
    return {
      name: "failed health check to previous version ready again",
      summary: `median ${total.toFixed(0)} ms, of which the service's own start is ${ownStart.toFixed(0)} ms: the agent adds ${overhead.toFixed(0)} ms`,
      figures: {
        runs,
        totalMs: Math.round(total),
        serviceOwnStartMs: Math.round(ownStart),
        agentOverheadMs: Math.round(overhead),
      },
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
