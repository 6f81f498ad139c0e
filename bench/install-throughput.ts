import { spawn } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent } from "../agent/agent.js";
import { parseConfig } from "../agent/config.js";
import { silentLogger } from "../agent/logging.js";
import { writeExampleModel } from "../packaging/example-service/make-model.js";
import { buildRelease } from "../publisher/commands/build.js";
import { keygen } from "../publisher/commands/keygen.js";
import { publishChannel } from "../publisher/commands/publish.js";
import type { BenchResult } from "./common.js";
import { freePort, sh } from "./common.js";
import { PUBLISH_BIN, stopChild, waitListening } from "./fleet-scale-world.js";
import { measureStages } from "./install-breakdown.js";

/**
 * Installing a large model bundle from localhost: the agent's full path
 * (download extracted as it arrives, SHA-256 of the bundle and of every file,
 * fsync of every file, symlink swap, health check) against two peers on the
 * same bundle in the same run: `curl | tar xz` then `sha256sum -c SHA256SUMS`,
 * and plain `tar xzf` of a local copy; neither syncs, swaps or checks a
 * signature. Then each stage alone (install-breakdown.ts), and the agent's
 * phases as its journal timed them. Once per gzip level asked for.
 */
export async function benchInstall(sizeMiB: number, gzipLevels: number[] = [1]): Promise<BenchResult> {
  const root = await mkdtemp(join(tmpdir(), "edgepull-bench-install-"));
  try {
    const keys = await keygen({ outDir: join(root, "keys") });
    const modelDir = join(root, "model");
    await writeExampleModel(modelDir, { version: "1.0.0", seed: 1, extraBytes: sizeMiB * 1024 * 1024 });
    const rows: LevelRow[] = [];
    for (const level of gzipLevels) {
      rows.push(await oneLevel(join(root, `level-${level}`), modelDir, keys, level));
    }
    const first = rows[0] as LevelRow;
    const figures: Record<string, number | string> = {};
    for (const row of rows) {
      for (const [k, v] of Object.entries(row)) {
        if (typeof v === "number" || typeof v === "string") figures[`gzip${row.gzipLevel}.${k}`] = v;
      }
      for (const [k, v] of Object.entries(row.phases)) figures[`gzip${row.gzipLevel}.phase.${k}`] = v;
      for (const [k, v] of Object.entries(row.stages)) figures[`gzip${row.gzipLevel}.stage.${k}`] = v;
    }
    return {
      name: `install of a ${sizeMiB} MiB model from localhost`,
      summary: rows
        .map(
          (r) =>
            `gzip ${r.gzipLevel} (${r.bundleMiB} MiB bundle): edgepull ${r.edgepullInstallSeconds} s, ` +
            `tar xzf of a local copy ${r.tarSeconds} s (ratio ${r.ratioToTar}), ` +
            `curl | tar xz + sha256sum -c ${r.curlSeconds} s (ratio ${r.ratioToCurl})`,
        )
        .join("\n"),
      figures: { ...figures, ratioToTar: first.ratioToTar, ratioToCurl: first.ratioToCurl },
      rows,
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

interface LevelRow {
  gzipLevel: number;
  bundleMiB: number;
  publisherBuildSeconds: number;
  edgepullInstallSeconds: number;
  tarSeconds: number;
  curlSeconds: number;
  ratioToTar: number;
  ratioToCurl: number;
  edgepullMiBPerSecond: number;
  /** Seconds in each journal phase of the agent's attempt. */
  phases: Record<string, number>;
  stages: Record<string, number>;
}

async function oneLevel(
  root: string,
  modelDir: string,
  keys: { privateKeyPath: string; publicKeyPath: string },
  gzipLevel: number,
): Promise<LevelRow> {
  const repoDir = join(root, "repo");
  const buildStart = performance.now();
  const built = await buildRelease({
    modelDir,
    name: "bench",
    version: "1.0.0",
    repoDir,
    keyPath: keys.privateKeyPath,
    gzipLevel,
  });
  const buildMs = performance.now() - buildStart;
  await publishChannel({ repoDir, name: "bench", version: "1.0.0", channel: "stable", keyPath: keys.privateKeyPath });
  // Its own process, as a repository is on another machine: serving must not take the agent's event loop.
  const repoPort = await freePort();
  const server = spawn(process.execPath, [PUBLISH_BIN, "serve", "--repo", repoDir, "--port", String(repoPort)], {
    stdio: "ignore",
  });
  await waitListening(server, repoPort, "edge-publish serve");
  const repo = { url: `http://127.0.0.1:${repoPort}` };
  const health = createServer((_q, r) => r.end("ok"));
  await new Promise<void>((r) => health.listen(0, "127.0.0.1", r));
  const port = (health.address() as { port: number }).port;
  try {
    const bundleUrl = `${repo.url}/${built.release.bundle.url}`;
    const localCopy = join(root, "local.tar.gz");
    await copyFile(join(repoDir, built.release.bundle.url), localCopy);
    const curlDir = join(root, "peer-curl");
    const tarDir = join(root, "peer-tar");
    await mkdir(curlDir);
    await mkdir(tarDir);
    const curl = await sh(
      `curl -sf '${bundleUrl}' | tar xz -C '${curlDir}' && cd '${curlDir}' && sha256sum -c --quiet SHA256SUMS`,
    );
    if (curl.code !== 0) throw new Error(`curl peer failed: ${curl.stderr}`);
    await rm(curlDir, { recursive: true, force: true });
    const tar = await sh(`tar xzf '${localCopy}' -C '${tarDir}'`);
    if (tar.code !== 0) throw new Error(`tar peer failed: ${tar.stderr}`);
    await rm(tarDir, { recursive: true, force: true });

    const config = parseConfig(
      {
        deviceId: "bench",
        dataDir: join(root, "device"),
        name: "bench",
        channel: "stable",
        repository: repo.url,
        trustedKeys: [keys.publicKeyPath],
        service: { mode: "command", command: ["true"] },
        health: { url: `http://127.0.0.1:${port}/`, timeoutSeconds: 30, probationSeconds: 0 },
        diskReserveMiB: 0,
      },
      join(root, "agent.json"),
    );
    const agent = await Agent.open(config, silentLogger(), "bench");
    const start = performance.now();
    const result = await agent.check("bench", { wait: true });
    const agentMs = performance.now() - start;
    const attempt = result.attempt;
    const phases = attempt ? phaseSeconds(agent.store.phaseLog(attempt.id)) : {};
    await agent.stop();
    if (attempt?.result !== "succeeded") throw new Error(`agent install failed: ${attempt?.errorCode}`);
    await rm(join(root, "device"), { recursive: true, force: true });

    const stages = await measureStages({
      root,
      bundleUrl,
      bundleFile: localCopy,
      size: built.release.bundle.size,
      sha256: built.release.bundle.sha256,
      expected: { name: "bench", version: "1.0.0", files: built.release.files },
    });
    const mib = built.release.bundle.size / (1024 * 1024);
    const s = (ms: number): number => Number((ms / 1000).toFixed(2));
    return {
      gzipLevel,
      bundleMiB: Number(mib.toFixed(1)),
      publisherBuildSeconds: s(buildMs),
      edgepullInstallSeconds: s(agentMs),
      tarSeconds: s(tar.ms),
      curlSeconds: s(curl.ms),
      ratioToTar: Number((agentMs / tar.ms).toFixed(2)),
      ratioToCurl: Number((agentMs / curl.ms).toFixed(2)),
      edgepullMiBPerSecond: Number((mib / (agentMs / 1000)).toFixed(1)),
      phases,
      stages: { ...stages },
    };
  } finally {
    await stopChild(server);
    await new Promise((r) => health.close(r));
  }
}

/** How long each journaled phase lasted, from one entry to the next. */
function phaseSeconds(log: { phase: string; at: string }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i + 1 < log.length; i++) {
    const a = log[i] as { phase: string; at: string };
    const b = log[i + 1] as { phase: string; at: string };
    out[a.phase] = Number(((Date.parse(b.at) - Date.parse(a.at)) / 1000).toFixed(3));
  }
  return out;
}
