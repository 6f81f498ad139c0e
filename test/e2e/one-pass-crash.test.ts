import { readlink } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/processes.js";
import { World } from "../helpers/world.js";

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

/**
 * kill -9 in the middle of the one pass (the bundle half downloaded and half
 * extracted), then a restart: the restarted agent feeds the partial file it
 * kept into a fresh extraction, takes the rest with a Range request, and
 * stages from that one pass, never extracting the finished file again.
 */
describe("kill -9 during extraction while downloading", () => {
  it("the restart resumes the pass from the partial file and completes", async () => {
    world = await World.create();
    const w = world;
    await w.release("1.0.0");
    const first = w.startAgent();
    await waitFor("v1 serving", async () => (await w.servedVersion()) === "1.0.0", 30_000);
    await waitFor("v1 committed", async () => (await w.peekStatus()).phase === "idle");
    await first.stop();
    await w.release("2.0.0", { extraBytes: 16 * 1024 * 1024 });

    const doomed = w.startAgent({ EDGEPULL_FAULT: "mid:downloading" });
    expect((await doomed.exited).signal, doomed.dump()).toBe("SIGKILL");
    // The pass was running when the agent died: extraction fed by the download, not by a file.
    expect(doomed.hasLog((l) => l.msg === "extraction started" && l.bundle === "stream")).toBe(true);
    expect(await readlink(join(w.dataDir, "current"))).toBe("versions/1.0.0");
    expect((await w.status()).phase).toBe("downloading");

    const restarted = w.startAgent();
    await waitFor("the interrupted attempt to finish", async () => (await w.peekStatus()).phase === "idle", 40_000);
    expect((await w.status()).lastUpdate).toMatchObject({ toVersion: "2.0.0", result: "succeeded" });
    expect(await w.servedVersion()).toBe("2.0.0");
    const verify = await w.cli(["verify", "--json"]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(restarted.hasLog((l) => l.msg === "download started" && (l.resumeFrom as number) > 0)).toBe(true);
    expect(restarted.hasLog((l) => l.msg === "extraction started" && l.bundle === "stream")).toBe(true);
    // Never the two-pass extraction of the finished file.
    expect(restarted.hasLog((l) => l.msg === "extraction started" && l.bundle !== "stream")).toBe(false);
    expect(
      restarted.hasLog((l) => l.msg === "extraction while downloading stopped; the bundle is extracted again once downloaded"),
    ).toBe(false);
    await restarted.stop();
  });
});
