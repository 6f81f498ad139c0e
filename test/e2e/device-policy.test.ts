import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { channelPointerPath, releaseManifestPath } from "../../shared/repo-layout.js";
import { rolloutBucket } from "../../shared/rollout.js";
import { waitFor } from "../helpers/processes.js";
import { loadKey, writePointer } from "../helpers/repo-craft.js";
import { World } from "../helpers/world.js";

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

type Status = Awaited<ReturnType<World["status"]>> & { lastCheck: { outcome: string } | null; hold: unknown };
const status = async (w: World) => (await w.status()) as Status;

async function settledOn(w: World, version: string): Promise<void> {
  await waitFor(
    `${version} committed`,
    async () => {
      const s = await w.peekStatus();
      return s.activeVersion === version && s.phase === "idle";
    },
    30_000,
  );
}

describe("device policy, end to end", () => {
  it("hold and release-hold, then an incompatible release is skipped with a clear status", async () => {
    world = await World.create({ extraConfig: { labels: ["camera-v2"] } });
    const w = world;
    await w.release("1.0.0");
    const agent = w.startAgent();
    await settledOn(w, "1.0.0");

    expect((await w.cli(["hold", "--reason", "servicing the camera"])).code).toBe(0);
    await w.release("2.0.0");
    await waitFor("a check that says held", async () => (await status(w)).lastCheck?.outcome.startsWith("held:"), 15_000);
    expect((await status(w)).activeVersion).toBe("1.0.0");
    expect((await status(w)).hold).toMatchObject({ source: "operator", reason: "servicing the camera" });
    expect((await w.cli(["status"])).stdout).toContain("updates held (operator: servicing the camera)");

    expect((await w.cli(["release-hold"])).code).toBe(0);
    await settledOn(w, "2.0.0");

    await w.release("3.0.0", { compatibility: { arch: ["riscv64"] } });
    await waitFor("incompatible skip", async () => (await status(w)).lastCheck?.outcome.startsWith("incompatible:"), 15_000);
    await w.release("3.1.0", { compatibility: { labels: ["jetson-orin"] } });
    await waitFor("missing label skip", async () => (await status(w)).lastCheck?.outcome.includes("jetson-orin"), 15_000);
    await w.release("3.2.0", { compatibility: { labels: ["camera-v2"], arch: [process.arch] } });
    await settledOn(w, "3.2.0");
    await agent.stop();
  });

  it("a pinned device installs its pin whatever the channel names", async () => {
    world = await World.create({ extraConfig: { pinVersion: "1.0.0" } });
    const w = world;
    await w.release("1.0.0");
    await w.release("2.0.0");
    const check = await w.cli(["check", "--json"]);
    expect(check.code, check.stderr).toBe(0);
    expect((await status(w)).activeVersion).toBe("1.0.0");
  });

  it("a staged rollout reaches the device only once its share covers the device's place", async () => {
    world = await World.create();
    const w = world;
    await w.release("1.0.0");
    expect((await w.cli(["check"])).code).toBe(0);
    await w.release("2.0.0", { publish: false });
    const key = await loadKey(w.keyPath);
    const releaseText = await readFile(join(w.repoDir, releaseManifestPath(w.name, "2.0.0")), "utf8");
    const place = rolloutBucket("dev-e2e-1", w.name, "2.0.0");
    const seq = JSON.parse(await readFile(join(w.repoDir, channelPointerPath(w.name, w.channel)), "utf8")).signed.sequence;
    const offer = (sequence: number, percent: number, paused = false) =>
      writePointer(w.repoDir, {
        name: w.name,
        channel: w.channel,
        version: "2.0.0",
        sequence,
        releaseText,
        keys: [key],
        rollout: { percent, paused },
      });

    await offer(seq + 1, Math.max(0, place - 0.5));
    const outside = await w.cli(["check"]);
    expect(outside.stdout).toContain("is rolling out to");
    expect((await status(w)).activeVersion).toBe("1.0.0");

    await offer(seq + 2, 100, true);
    expect((await w.cli(["check"])).stdout).toContain("paused");

    await offer(seq + 3, Math.min(100, place + 0.5));
    expect((await w.cli(["check"])).code).toBe(0);
    expect((await status(w)).activeVersion).toBe("2.0.0");
  });

  it("outside its maintenance window a device stages but does not swap; inside one it activates", async () => {
    const now = new Date();
    const hhmm = (d: Date) => `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
    const days = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    const elsewhere = [{ days: [days[(now.getDay() + 3) % 7]], start: "01:00", end: "02:00" }];
    world = await World.create({ extraConfig: { maintenanceWindows: elsewhere } });
    const w = world;
    await w.release("1.0.0");
    const first = w.startAgent();
    await waitFor("v1 staged and waiting", async () => (await status(w)).phase === "waiting", 30_000);
    expect((await status(w)).activeVersion).toBeNull();
    await first.stop();

    const open = [{ days, start: hhmm(new Date(now.getTime() - 3_600_000)), end: hhmm(new Date(now.getTime() + 3_600_000)) }];
    await w.writeConfig({ extraConfig: { maintenanceWindows: open } });
    const second = w.startAgent();
    await settledOn(w, "1.0.0");
    const history = JSON.parse((await w.cli(["history", "--json"])).stdout) as { phases: { phase: string }[] }[];
    expect(history[0]?.phases.map((p) => p.phase)).toContain("waiting");
    await second.stop();
  });
});
