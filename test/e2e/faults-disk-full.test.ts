import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { bundleFileName } from "../../shared/repo-layout.js";
import { type FaultProxy, startFaultProxy } from "../helpers/fault-proxy.js";
import { type LoggedProcess, waitFor } from "../helpers/processes.js";
import { expectSettled } from "../helpers/settled.js";
import { mountSmallDisk, type SmallDisk, smallDiskProblem } from "../helpers/small-disk.js";
import { World } from "../helpers/world.js";

const problem = smallDiskProblem();
const why = problem ? ` (skipped: ${problem})` : "";
const MiB = 1024 * 1024;

let world: World | undefined;
let disk: SmallDisk | undefined;
let proxy: FaultProxy | undefined;
afterEach(async () => {
  await world?.stopAgents();
  await disk?.unmount();
  await proxy?.close();
  await world?.close();
  world = undefined;
  disk = undefined;
  proxy = undefined;
});

/**
 * The device folder (config and data) on a 24 MiB tmpfs, the repository behind
 * a proxy that can hold the v2 bundle mid-transfer; v1 installed and committed.
 */
async function smallDevice(): Promise<{ w: World; agent: LoggedProcess; disk: SmallDisk; proxy: FaultProxy }> {
  const w = await World.create();
  world = w;
  proxy = await startFaultProxy(w.repoUrl);
  disk = await mountSmallDisk(join(w.root, "device"), 24);
  await w.writeConfig({
    extraConfig: { repository: proxy.url, diskReserveMiB: 0, download: { retries: 3, idleTimeoutSeconds: 30 } },
  });
  await w.release("1.0.0");
  const agent = w.startAgent();
  await waitFor("v1 committed", async () => (await w.peekStatus()).lastUpdate?.result === "succeeded", 30_000);
  return { w, agent, disk, proxy };
}

describe.skipIf(problem)(`disk full on the data folder's filesystem${why}`, () => {
  it.each([
    // The disk fills 1 MiB into the download: 8 KiB free, and 3 MiB still to come.
    ["during the download", "downloading", (_size: number) => 1 * MiB, 8 * 1024],
    // The disk fills just before the last 16 KiB arrive: they fit, the 4 MiB of files do not.
    ["during extraction", "staging", (size: number) => size - 16 * 1024, 1 * MiB],
  ])(
    "%s: DISK_SPACE_LOW, the active version untouched, and the next release installs once there is room",
    async (_name, phase, holdAt, leaveFree) => {
      const { w, agent, disk: d, proxy: p } = await smallDevice();
      await w.release("2.0.0", { publish: false, extraBytes: 4 * MiB });
      const hold = p.holdNext(bundleFileName(w.name, "2.0.0"), holdAt((await w.releaseManifest("2.0.0")).bundle.size));
      await w.publish("2.0.0");
      await hold.reached;
      await d.fill(leaveFree);
      hold.release();

      await waitFor("v2 failed", async () => (await w.peekStatus()).lastUpdate?.result === "failed", 30_000);
      await expectSettled(w, agent, { active: "1.0.0", last: { to: "2.0.0", result: "failed", errorCode: "DISK_SPACE_LOW" } });
      const [attempt] = await w.history();
      expect(attempt?.phases.map((x) => x.phase)).toEqual(["downloading", ...(phase === "staging" ? ["staging"] : []), "failed"]);
      expect(await w.servedVersion()).toBe("1.0.0");
      expect((await w.status()).lastUpdate?.error).toMatch(/no space left/);
      if (phase === "downloading") {
        // What the attempt held on the full disk was given back, so the journal could record why.
        const downloads = await readdir(join(w.dataDir, "downloads"));
        expect(downloads.filter((f) => f.includes("-2.0.0."))).toEqual([]);
      }

      // The operator frees the disk; a newer release installs in full.
      await d.free();
      await w.release("3.0.0", { extraBytes: 4 * MiB });
      await waitFor(
        "v3 committed",
        async () => (await w.peekStatus()).lastUpdate?.toVersion === "3.0.0" && (await w.peekStatus()).phase === "idle",
        30_000,
      );
      await expectSettled(w, agent, { active: "3.0.0", last: { to: "3.0.0", result: "succeeded", errorCode: null } });
      expect(await w.servedVersion()).toBe("3.0.0");
    },
  );
});
