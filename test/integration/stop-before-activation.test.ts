import { mkdir, mkdtemp, readlink, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Agent } from "../../agent/agent.js";
import { type AgentConfig, parseConfig } from "../../agent/config.js";
import { silentLogger } from "../../agent/logging.js";
import { buildRelease } from "../../publisher/commands/build.js";
import { keygen } from "../../publisher/commands/keygen.js";
import { publishChannel } from "../../publisher/commands/publish.js";
import { startRepoServer } from "../../publisher/repo-server.js";

const NAME = "demo-model";

let root: string;
let health: Server;
let repo: { url: string; close(): Promise<void> };
let config: AgentConfig;
let keyPath: string;

async function release(version: string): Promise<void> {
  const model = join(root, "models", version);
  await mkdir(model, { recursive: true });
  await writeFile(join(model, "weights.bin"), Buffer.alloc(64 * 1024, version.length + Number(version[0])));
  await writeFile(join(model, "config.json"), JSON.stringify({ version }));
  const repoDir = join(root, "repo");
  await buildRelease({ modelDir: model, name: NAME, version, repoDir, keyPath });
  await publishChannel({ repoDir, name: NAME, version, channel: "stable", keyPath });
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-stop-"));
  const keys = await keygen({ outDir: join(root, "keys") });
  keyPath = keys.privateKeyPath;
  health = createServer((_req, res) => res.end("ready"));
  await new Promise<void>((r) => health.listen(0, "127.0.0.1", r));
  repo = await startRepoServer({ repoDir: join(root, "repo"), port: 0, host: "127.0.0.1" });
  config = parseConfig(
    {
      deviceId: "dev-stop",
      dataDir: join(root, "data"),
      name: NAME,
      channel: "stable",
      repository: repo.url,
      trustedKeys: [keys.publicKeyPath],
      service: { mode: "command", command: ["true"] },
      health: { url: `http://127.0.0.1:${(health.address() as { port: number }).port}/ready`, probationSeconds: 0 },
      diskReserveMiB: 0,
    },
    join(root, "agent.json"),
  );
});

afterEach(async () => {
  await repo.close();
  await new Promise((r) => health.close(r));
  await rm(root, { recursive: true, force: true });
});

describe("a stop that arrives as staging ends", () => {
  it("never swaps current: the attempt stays open at staging and the next start finishes it", async () => {
    await release("1.0.0");
    const first = await Agent.open(config, silentLogger(), "test");
    expect((await first.check("test", { wait: true })).attempt?.result).toBe("succeeded");
    await first.stop({ stopService: false });

    await release("2.0.0");
    let stopping: Promise<void> | undefined;
    const agent: Agent = await Agent.open(config, silentLogger(), "test", {
      // After staging's side effect and before the loop turns to activation: the window a stop can fall into.
      fault: (point) => {
        if (point === "after:staging") stopping = agent.stop({ stopService: false });
      },
    });
    await expect(agent.check("test", { wait: true })).rejects.toMatchObject({ code: "INTERRUPTED" });
    await stopping;
    expect(await readlink(join(config.dataDir, "current"))).toBe("versions/1.0.0");

    const again = await Agent.open(config, silentLogger(), "test");
    await again.recover();
    expect(await readlink(join(config.dataDir, "current"))).toBe("versions/2.0.0");
    await again.stop({ stopService: false });
  });
});
