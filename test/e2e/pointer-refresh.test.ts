import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { withdraw } from "../../publisher/commands/withdraw.js";
import { bundlePath, channelPointerPath } from "../../shared/repo-layout.js";
import { PUBLISH_BIN, runNode } from "../helpers/processes.js";
import { World } from "../helpers/world.js";

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

const publisher = (...args: string[]) => runNode(PUBLISH_BIN, args, {}, 30_000);

describe("edge-publish refresh with a real device", () => {
  it("channels warns, refresh re-signs the expiring pointer, the agent accepts it and the warning is gone", async () => {
    const w = await World.create();
    world = w;
    await w.release("1.0.0"); // a pointer expiring in 30 days: "soon" when looking 31 days ahead
    const installed = await w.cli(["check", "--json"]);
    expect(installed.code, installed.stderr).toBe(0);
    expect(JSON.parse(installed.stdout)).toMatchObject({ ok: true, version: "1.0.0", sequence: 1 });

    const warned = await publisher("channels", "--repo", w.repoDir, "--warn-days", "31");
    expect(warned.code, warned.stderr).toBe(0);
    expect(warned.stdout).toMatch(
      new RegExp(`^warning: ${w.name} ${w.channel} \\(1\\.0\\.0, sequence 1\\) expires at \\S+, in \\S+ days`, "m"),
    );

    const pointerPath = join(w.repoDir, channelPointerPath(w.name, w.channel));
    const before = await readFile(pointerPath, "utf8");
    // Every pointer expiring within 31 days, re-signed for 90.
    const refresh = (...extra: string[]) =>
      publisher("refresh", "--repo", w.repoDir, "--key", w.keyPath, "--before-days", "31", "--expires-days", "90", ...extra);
    const dry = await refresh("--dry-run");
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^would re-sign demo-model stable -> 1\.0\.0: sequence 1 -> 2/m);
    expect(await readFile(pointerPath, "utf8")).toBe(before);

    const r = await refresh("--json");
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { refreshed: { channel: string; sequence: number }[]; kept: unknown[] };
    expect(result.refreshed).toMatchObject([{ channel: w.channel, sequence: 2 }]);
    expect(result.kept).toEqual([]);

    // The device, which accepted sequence 1, takes the re-signed pointer: signature, sequence and release digest hold.
    const check = await w.cli(["check", "--json"]);
    expect(check.code, check.stderr).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({
      ok: true,
      version: "1.0.0",
      sequence: 2,
      decision: { reason: "up-to-date" },
    });

    const quiet = await publisher("channels", "--repo", w.repoDir, "--warn-days", "31", "--json");
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(JSON.parse(quiet.stdout)).toMatchObject({
      warnings: [],
      channels: [{ sequence: 2, expiresSoon: false, expired: false }],
    });
  });
});

describe("edge-publish refresh and an expiring withdrawal list, with a real device", () => {
  it("an expired list stops the device's checks; channels warns; refresh re-signs it and the device checks again", async () => {
    const w = await World.create();
    world = w;
    await w.release("1.0.0");
    await w.release("1.1.0", { publish: false });
    const installed = await w.cli(["check", "--json"]);
    expect(installed.code, installed.stderr).toBe(0);
    // Withdrawn 31 days ago with the default 30-day life: the publisher forgot to renew it.
    await withdraw({
      repoDir: w.repoDir,
      name: w.name,
      version: "1.1.0",
      reason: "NaN outputs",
      keyPath: w.keyPath,
      now: new Date(Date.now() - 31 * 86_400_000),
    });
    const dark = await w.cli(["check", "--json"]);
    expect(dark.code).toBe(1);
    expect(dark.stdout + dark.stderr).toContain("METADATA_EXPIRED: withdrawal list (sequence 1) expired at");

    const warned = await publisher("channels", "--repo", w.repoDir, "--json");
    expect(warned.code, warned.stderr).toBe(0);
    expect(JSON.parse(warned.stdout)).toMatchObject({
      withdrawalLists: [{ name: w.name, sequence: 1, entries: 1, expired: true }],
      warnings: [
        expect.stringMatching(new RegExp(`^warning: withdrawal list of ${w.name} \\(sequence 1, 1 withdrawn\\) EXPIRED at `)),
      ],
    });

    const dry = await publisher("refresh", "--repo", w.repoDir, "--key", w.keyPath, "--dry-run");
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(
      new RegExp(`^would re-sign the withdrawal list of ${w.name} \\(1 withdrawn\\): sequence 1 -> 2, expiry \\S+ -> \\S+\n`),
    );
    const r = await publisher("refresh", "--repo", w.repoDir, "--key", w.keyPath, "--json");
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      refreshed: [],
      kept: [{ channel: w.channel, sequence: 1 }],
      withdrawalLists: { refreshed: [{ name: w.name, entries: 1, fromSequence: 1, sequence: 2 }], kept: [] },
    });
    const text = await publisher("refresh", "--repo", w.repoDir, "--key", w.keyPath, "--dry-run");
    expect(text.stdout).toBe(
      "0 pointer(s) and 0 withdrawal list(s) would re-sign; 1 pointer(s) and 1 list(s) not due within 7 days\n",
    );

    const check = await w.cli(["check", "--json"]);
    expect(check.code, check.stderr).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({ ok: true, version: "1.0.0", decision: { reason: "up-to-date" } });
    // Still withdrawn: the re-signed list has the same entries.
    const sideload = await w.cli(["install", join(w.repoDir, bundlePath(w.name, "1.1.0"))]);
    expect(sideload.stdout + sideload.stderr).toContain("VERSION_WITHDRAWN");
    const quiet = await publisher("channels", "--repo", w.repoDir, "--json");
    expect(JSON.parse(quiet.stdout)).toMatchObject({ warnings: [], withdrawalLists: [{ sequence: 2, expired: false }] });
  });
});
