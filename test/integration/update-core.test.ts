import { closeSync, fstatSync, mkdirSync, openSync, rmSync, symlinkSync, writeFileSync, writeSync } from "node:fs";
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { bundleFilePath } from "../../agent/install/layout.js";
import { bundlePath, releaseDir } from "../../shared/repo-layout.js";
import { CoreWorld, type CoreWorldOptions } from "../helpers/core-world.js";

/**
 * Whole attempts through the update core in-process (agent/update/): a real
 * journal, files and loopback repository; a fake clock, disk, memory and
 * service. The e2e tests cover the same paths with the built CLI.
 */

let world: CoreWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

async function onV1(opts: CoreWorldOptions = {}): Promise<CoreWorld> {
  world = await CoreWorld.onV1(opts);
  return world;
}

const HAPPY = ["downloading", "staging", "activating", "starting", "succeeded"];

describe("the update core, whole attempts", () => {
  it("installs, swaps, restarts and commits; every fault point in order; downloads/ and staging/ end empty", async () => {
    const w = await onV1();
    const points = w.points.length;
    const a = await w.install("2.0.0");
    expect(a).toMatchObject({
      result: "succeeded",
      fromVersion: "1.0.0",
      toVersion: "2.0.0",
      delivery: "bundle",
      errorCode: null,
    });
    expect(w.phases(a.id)).toEqual(HAPPY);
    expect(w.points.slice(points).filter((p) => !p.startsWith("mid:"))).toEqual([
      "before:downloading",
      "after:downloading",
      "before:staging",
      "after:staging",
      "before:activating",
      "after:activating",
      "before:starting",
      "after:starting",
    ]);
    expect(a.bytesDownloaded).toBe((await stat(join(w.repo.repoDir, bundlePath(w.repo.name, "2.0.0")))).size);
    expect(await w.active()).toBe("2.0.0");
    expect(w.service.restarts).toEqual(["1.0.0", "2.0.0"]);
    expect(w.store.previousVersion()).toBe("1.0.0");
    expect(await w.downloads()).toEqual([]);
    expect(await w.staging()).toEqual([]);
    // Staged files are read-only.
    expect((await stat(join(w.layout.versionsDir, "2.0.0", "config.json"))).mode & 0o222).toBe(0);
  });

  it("holds probation when it is configured, and commits after it", async () => {
    const w = await onV1({ config: { health: { probationSeconds: 1 } } });
    const a = await w.install("2.0.0");
    expect(w.phases(a.id)).toEqual(["downloading", "staging", "activating", "starting", "probation", "succeeded"]);
  });

  it("takes a version already staged here without downloading it", async () => {
    const w = await onV1();
    await w.install("2.0.0");
    const back = await w.install("1.0.0");
    expect(back).toMatchObject({ result: "succeeded", delivery: null, bytesDownloaded: 0 });
    expect(w.phases(back.id)).toEqual(HAPPY);
    expect(await w.active()).toBe("1.0.0");
  });

  it("installs a sideload from its own file, never from the repository", async () => {
    const w = await onV1();
    const usb = join(w.root, "usb");
    await mkdir(usb);
    await writeFile(join(usb, "bundle.tar.gz"), await readFile(join(w.repo.repoDir, bundlePath(w.repo.name, "2.0.0"))));
    // Nothing of 2.0.0 is left in the repository: a network fetch would fail.
    await rm(join(w.repo.repoDir, releaseDir(w.repo.name, "2.0.0")), { recursive: true });
    const a = await w.sideload(join(usb, "bundle.tar.gz"));
    expect(a).toMatchObject({ result: "succeeded", delivery: "bundle", source: "sideload" });
    expect(await w.active()).toBe("2.0.0");
  });

  it("rolls back by hand to the previous version and deny-lists the one left", async () => {
    const w = await onV1();
    await w.install("2.0.0");
    const r = await w.rollbackTo("1.0.0");
    expect(r).toMatchObject({ kind: "rollback", result: "succeeded", fromVersion: "2.0.0", toVersion: "1.0.0" });
    expect(w.phases(r.id)).toEqual(["activating", "starting", "succeeded"]);
    expect(w.store.isDenied("2.0.0")?.errorCode).toBe("OPERATOR_ROLLBACK");
    expect(w.store.previousVersion()).toBe("2.0.0");
  });
});

interface FailureCase {
  phase: string;
  why: string;
  config?: CoreWorldOptions["config"];
  arrange: (w: CoreWorld) => void | Promise<void>;
  code: RegExp;
  phases: string[];
  result: "failed" | "rolled_back";
}

const BEFORE_SWAP = ["downloading", "staging"];

const FAILURES: FailureCase[] = [
  {
    phase: "downloading",
    why: "the bundle is missing from the repository",
    arrange: (w) => rm(join(w.repo.repoDir, bundlePath(w.repo.name, "2.0.0"))),
    code: /^(HTTP_ERROR|DOWNLOAD_FAILED)$/,
    phases: ["downloading", "failed"],
    result: "failed",
  },
  {
    phase: "downloading",
    why: "the disk is too full for the bundle and its unpacked files",
    arrange: (w) => {
      w.disk.availableBytes = 100;
    },
    code: /^DISK_SPACE_LOW$/,
    phases: ["downloading", "failed"],
    result: "failed",
  },
  {
    phase: "staging",
    why: "the downloaded bundle is damaged before extraction",
    arrange: (w) =>
      w.at("after:downloading", () => {
        spoil(bundleFilePath(w.layout, w.repo.name, "2.0.0"));
      }),
    code: /^(BUNDLE_CORRUPT|BUNDLE_TRUNCATED|DIGEST_MISMATCH)$/,
    phases: [...BEFORE_SWAP, "failed"],
    result: "failed",
  },
  {
    phase: "activating",
    why: "current cannot be replaced (a folder sits where the link goes)",
    arrange: (w) => {
      w.at("before:activating", () => blockCurrent(w));
      w.at("before:rolling_back", () => unblockCurrent(w));
    },
    code: /^ACTIVATION_FAILED$/,
    phases: [...BEFORE_SWAP, "activating", "rolling_back", "rolled_back"],
    result: "rolled_back",
  },
  {
    phase: "starting",
    why: "the service does not restart on the new version",
    arrange: (w) => {
      w.service.failRestart.add("2.0.0");
    },
    code: /^RESTART_FAILED$/,
    phases: [...BEFORE_SWAP, "activating", "starting", "rolling_back", "rolled_back"],
    result: "rolled_back",
  },
  {
    phase: "starting",
    why: "the new version never answers ready",
    config: { health: { timeoutSeconds: 1 } },
    arrange: (w) => {
      w.service.unhealthy.add("2.0.0");
    },
    code: /^HEALTH_TIMEOUT$/,
    phases: [...BEFORE_SWAP, "activating", "starting", "rolling_back", "rolled_back"],
    result: "rolled_back",
  },
  {
    phase: "probation",
    why: "the service crashes during probation",
    config: { health: { probationSeconds: 1 } },
    arrange: (w) => w.at("before:probation", () => w.service.crashNow()),
    code: /^SERVICE_CRASHED$/,
    phases: [...BEFORE_SWAP, "activating", "starting", "probation", "rolling_back", "rolled_back"],
    result: "rolled_back",
  },
  {
    phase: "probation",
    why: "the new version stops answering ready during probation",
    config: { health: { probationSeconds: 1 } },
    arrange: (w) => w.at("before:probation", () => w.service.unhealthy.add("2.0.0")),
    code: /^HEALTH_FAILED$/,
    phases: [...BEFORE_SWAP, "activating", "starting", "probation", "rolling_back", "rolled_back"],
    result: "rolled_back",
  },
];

describe("a failure in each phase", () => {
  it.each(FAILURES)("$phase: $why", async ({ config, arrange, code, phases, result }) => {
    const w = await onV1({ config });
    await arrange(w);
    const a = await w.install("2.0.0");
    expect(a.result).toBe(result);
    expect(a.errorCode).toMatch(code);
    expect(a.rollbackErrorCode).toBeNull();
    expect(w.phases(a.id)).toEqual(phases);
    expect(await w.active()).toBe("1.0.0");
    expect(await w.staging()).toEqual([]);
    if (result === "rolled_back") {
      // Past the swap, the version is deny-listed and the service is back on the old one.
      expect(w.store.isDenied("2.0.0")?.errorCode).toMatch(code);
      expect(w.service.restarts.at(-1)).toBe("1.0.0");
      expect(w.service.running).toBe("1.0.0");
      expect(await w.downloads()).toEqual([]);
    } else {
      // Before it, nothing changed: it may be retried later, its resumable partial (if any) kept.
      expect(w.store.isDenied("2.0.0")).toBeUndefined();
      expect(w.service.restarts).toEqual(["1.0.0"]);
      expect((await w.downloads()).every((f) => f.endsWith(".part"))).toBe(true);
    }
  });

  it("a rollback that fails too ends failed with ROLLBACK_FAILED and the first cause kept", async () => {
    const w = await onV1();
    w.service.failRestart.add("2.0.0");
    w.service.failRestart.add("1.0.0");
    const a = await w.install("2.0.0");
    expect(a).toMatchObject({ result: "failed", errorCode: "RESTART_FAILED", rollbackErrorCode: "ROLLBACK_FAILED" });
    expect(a.rollbackErrorMessage).toMatch(/^RESTART_FAILED: /);
    expect(w.phases(a.id)).toEqual([...BEFORE_SWAP, "activating", "starting", "rolling_back", "failed"]);
    expect(await w.active()).toBe("1.0.0");
    expect(w.store.isDenied("2.0.0")?.errorCode).toBe("RESTART_FAILED");
  });

  it("a failed first install has nothing to return to: the service stops and current goes", async () => {
    world = await CoreWorld.create();
    const w = world;
    await w.release("1.0.0");
    w.service.failRestart.add("1.0.0");
    const a = await w.install("1.0.0");
    expect(a).toMatchObject({ result: "rolled_back", errorCode: "RESTART_FAILED", fromVersion: null });
    expect(await w.active()).toBeUndefined();
    expect(w.service.stops).toBe(1);
    expect(w.store.isDenied("1.0.0")?.errorCode).toBe("RESTART_FAILED");
  });
});

/** Overwrites bytes in the middle of a file. Fault hooks are synchronous, so is this. */
function spoil(path: string): void {
  const fd = openSync(path, "r+");
  try {
    writeSync(fd, Buffer.alloc(64, 0xa5), 0, 64, Math.floor(fstatSync(fd).size / 2));
  } finally {
    closeSync(fd);
  }
}

/** A non-empty folder where `current` is: renaming a link over it fails. */
function blockCurrent(w: CoreWorld): void {
  rmSync(w.layout.currentLink);
  mkdirSync(w.layout.currentLink);
  writeFileSync(join(w.layout.currentLink, "keep"), "a folder, not a link");
}

function unblockCurrent(w: CoreWorld): void {
  rmSync(w.layout.currentLink, { recursive: true });
  symlinkSync("versions/1.0.0", w.layout.currentLink);
}
