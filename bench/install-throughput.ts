import { mkdir, mkdtemp, rm } from "node:fs/promises";
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
import { startRepoServer } from "../publisher/repo-server.js";
import type { BenchResult } from "./common.js";
import { sh } from "./common.js";

/**
 * Installing a large model bundle from localhost: the agent's full path
 * (download with SHA-256 while writing, safe extraction with per-file SHA-256,
 * fsync of every file, symlink swap) against the shell way on the same bundle:
 * `curl | tar xz` then `sha256sum -c SHA256SUMS`, which checks less and syncs nothing.
 */
export async function benchInstall(sizeMiB: number): Promise<BenchResult> {
  const root = await mkdtemp(join(tmpdir(), "edgepull-bench-install-"));
  try {
    const keys = await keygen({ outDir: join(root, "keys") });
    const repoDir = join(root, "repo");
    const modelDir = join(root, "model");
    await writeExampleModel(modelDir, { version: "1.0.0", seed: 1, extraBytes: sizeMiB * 1024 * 1024 });
    const buildStart = performance.now();
    const built = await buildRelease({ modelDir, name: "bench", version: "1.0.0", repoDir, keyPath: keys.privateKeyPath });
    const buildMs = performance.now() - buildStart;
    await publishChannel({ repoDir, name: "bench", version: "1.0.0", channel: "stable", keyPath: keys.privateKeyPath });
    const repo = await startRepoServer({ repoDir, port: 0, host: "127.0.0.1" });
    const health = createServer((_q, r) => r.end("ok"));
    await new Promise<void>((r) => health.listen(0, "127.0.0.1", r));
    const port = (health.address() as { port: number }).port;
    try {
      const bundleUrl = `${repo.url}/${built.release.bundle.url}`;
      const peerDir = join(root, "peer");
      await mkdir(peerDir);
      const peer = await sh(
        `curl -sf '${bundleUrl}' | tar xz -C '${peerDir}' && cd '${peerDir}' && sha256sum -c --quiet SHA256SUMS`,
      );
      if (peer.code !== 0) throw new Error(`peer pipeline failed: ${peer.stderr}`);

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
      await agent.stop();
      if (result.attempt?.result !== "succeeded") throw new Error(`agent install failed: ${result.attempt?.errorCode}`);
      const mib = built.release.bundle.size / (1024 * 1024);
      return {
        name: `install of a ${sizeMiB} MiB model from localhost`,
        summary: `edgepull ${(agentMs / 1000).toFixed(2)} s vs curl | tar xz + sha256sum -c ${(peer.ms / 1000).toFixed(2)} s: ratio ${(agentMs / peer.ms).toFixed(2)}`,
        figures: {
          bundleMiB: Number(mib.toFixed(1)),
          publisherBuildSeconds: Number((buildMs / 1000).toFixed(2)),
          edgepullInstallSeconds: Number((agentMs / 1000).toFixed(2)),
          peerSeconds: Number((peer.ms / 1000).toFixed(2)),
          ratioEdgepullToPeer: Number((agentMs / peer.ms).toFixed(2)),
          edgepullMiBPerSecond: Number((mib / (agentMs / 1000)).toFixed(1)),
        },
      };
    } finally {
      await repo.close();
      await new Promise((r) => health.close(r));
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
