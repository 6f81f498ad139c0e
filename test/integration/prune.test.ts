import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { layoutFor } from "../../agent/install/layout.js";
import { pruneVersions } from "../../agent/install/prune.js";
import { silentLogger } from "../../agent/logging.js";
import { openDb } from "../../agent/state/db.js";
import { StateStore } from "../../agent/state/store.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "edgepull-prune-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function stage(store: StateStore, version: string, at: string): Promise<void> {
  await mkdir(join(dir, "versions", version, "sub"), { recursive: true });
  store.recordVersion({ version, releaseJson: "{}", releaseDigest: "d", stagedAt: at });
}

describe("pruneVersions (real folders, real SQLite)", () => {
  it("keeps the newest N and always the active and previous versions, and drops unknown folders", async () => {
    const layout = layoutFor(dir);
    const store = new StateStore(openDb(join(dir, "state.db")));
    await stage(store, "1.0.0", "2026-01-01T00:00:00Z");
    await stage(store, "2.0.0", "2026-01-02T00:00:00Z");
    await stage(store, "3.0.0", "2026-01-03T00:00:00Z");
    await stage(store, "4.0.0", "2026-01-04T00:00:00Z");
    await stage(store, "5.0.0", "2026-01-05T00:00:00Z");
    await mkdir(join(dir, "versions", "9.9.9-half-staged"));

    // Active 2.0.0 and previous 1.0.0 are the two oldest: they stay anyway.
    const removed = await pruneVersions(layout, store, 3, ["2.0.0", "1.0.0"], silentLogger());
    expect(removed.sort()).toEqual(["3.0.0", "4.0.0", "9.9.9-half-staged"]);
    expect((await readdir(join(dir, "versions"))).sort()).toEqual(["1.0.0", "2.0.0", "5.0.0"]);
    expect(store.listVersions().map((v) => v.version)).toEqual(["1.0.0", "2.0.0", "5.0.0"]);
  });
});
