import { randomBytes } from "node:crypto";
import { rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseEnvelopeText, parseReleaseManifest, type ReleaseManifest } from "../../shared/manifest.js";
import { releaseManifestPath } from "../../shared/repo-layout.js";
import { flipBitNearEnd } from "../helpers/bit-rot.js";
import { CoreWorld, type CoreWorldOptions, Stopper } from "../helpers/core-world.js";

/**
 * The delivery choice in whole attempts, in-process: a delta from the active
 * version when one is offered and usable, the full bundle otherwise, and the
 * fallback from one to the other for each reason a delta can fail.
 */

let world: CoreWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

const PADDING_SEED = 42;
const PADDING = { extraBytes: 512 * 1024, paddingSeed: PADDING_SEED };

/** 1.0.0 active; 1.1.0 (same backbone, new head) with a delta from 1.0.0 offered. */
async function deltaOffered(opts: CoreWorldOptions = {}): Promise<{ w: CoreWorld; release: ReleaseManifest }> {
  world = await CoreWorld.create(opts);
  const w = world;
  await w.release("1.0.0", PADDING);
  expect((await w.install("1.0.0")).result).toBe("succeeded");
  await w.release("1.1.0", PADDING);
  await w.delta("1.0.0", "1.1.0");
  const text = (await w.repo.readFile(releaseManifestPath(w.repo.name, "1.1.0"))).toString("utf8");
  return { w, release: parseReleaseManifest(parseEnvelopeText(text, "release.json").signed) };
}

function deltaFile(w: CoreWorld, release: ReleaseManifest): string {
  return join(w.repo.repoDir, release.deltas?.[0]?.url ?? "no-delta");
}

const HAPPY = ["downloading", "staging", "activating", "starting", "succeeded"];

describe("delta delivery", () => {
  it("rebuilds the new version from the active one and the delta, and counts the bytes saved", async () => {
    const { w, release } = await deltaOffered();
    const offer = release.deltas?.[0];
    const a = await w.install("1.1.0");
    expect(a).toMatchObject({
      result: "succeeded",
      delivery: "delta",
      deltaFrom: "1.0.0",
      deltaFallbackCode: null,
      bytesDownloaded: offer?.size,
      bytesSaved: release.bundle.size - (offer?.size ?? 0),
    });
    expect(w.phases(a.id)).toEqual(HAPPY);
    expect(w.points.filter((p) => p === "mid:patching").length).toBeGreaterThan(0);
    expect(w.memory.calls).toBe(1);
    expect(await w.active()).toBe("1.1.0");
    expect(await w.downloads()).toEqual([]);
  });

  it.each([
    { deltas: false, why: "deltas are off" },
    { deltas: true, why: "the release offers none from the active version", noOffer: true },
  ])("takes the bundle when $why", async ({ deltas, noOffer }) => {
    const { w } = await deltaOffered({ config: { delta: { enabled: deltas } } });
    if (noOffer) await w.release("1.2.0", PADDING);
    const a = await w.install(noOffer ? "1.2.0" : "1.1.0");
    expect(a).toMatchObject({ result: "succeeded", delivery: "bundle", deltaFrom: null, deltaFallbackCode: null });
    expect(w.memory.calls).toBe(0);
  });
});

interface FallbackCase {
  why: string;
  code: RegExp;
  /** Where the delta was given up: at download (the bundle replaces it there) or at staging (the bundle is fetched then). */
  at: "download" | "staging";
  spoil: (w: CoreWorld, release: ReleaseManifest) => void | Promise<void>;
}

const FALLBACKS: FallbackCase[] = [
  {
    why: "the delta is missing from the repository (download error)",
    code: /^(HTTP_ERROR|DOWNLOAD_FAILED)$/,
    at: "download",
    spoil: (w, r) => rm(deltaFile(w, r)),
  },
  {
    why: "the downloaded delta does not match its signed digest",
    code: /^DIGEST_MISMATCH$/,
    at: "download",
    spoil: async (w, r) => writeFile(deltaFile(w, r), randomBytes((await stat(deltaFile(w, r))).size)),
  },
  {
    why: "free memory is below delta.minFreeMemoryMiB",
    code: /^MEMORY_LOW$/,
    at: "staging",
    spoil: (w) => {
      w.memory.available = 1024 * 1024;
    },
  },
  {
    why: "the memory probe itself fails (an error that is not the agent's own)",
    code: /^DELTA_FAILED$/,
    at: "staging",
    spoil: (w) => {
      w.memory.available = new Error("cannot read /proc/meminfo");
    },
  },
  {
    why: "the active version's weights are not the delta's base",
    code: /^DELTA_BASE_MISMATCH$/,
    at: "staging",
    spoil: async (w) => {
      await flipBitNearEnd(join(w.layout.versionsDir, "1.0.0", "model.safetensors"));
    },
  },
];

describe("falling back from the delta to the bundle", () => {
  it.each(FALLBACKS)("when $why: records $code, takes the bundle, same phases", async ({ code, at, spoil }) => {
    const { w, release } = await deltaOffered();
    const offer = release.deltas?.[0];
    await spoil(w, release);
    const a = await w.install("1.1.0");
    expect(a).toMatchObject({ result: "succeeded", delivery: "bundle", deltaFrom: null, bytesSaved: 0, errorCode: null });
    expect(a.deltaFallbackCode).toMatch(code);
    // The fallback happens inside the phase: the journal shows no extra phase.
    expect(w.phases(a.id)).toEqual(HAPPY);
    // A delta given up at staging was downloaded whole first.
    expect(a.bytesDownloaded).toBe(release.bundle.size + (at === "staging" ? (offer?.size ?? 0) : 0));
    expect(await w.active()).toBe("1.1.0");
    expect(await w.downloads()).toEqual([]);
    expect(await w.staging()).toEqual([]);
  });

  it("low disk: the delta is given up and the bundle does not fit either; the attempt fails before any swap", async () => {
    const { w } = await deltaOffered();
    w.disk.availableBytes = 100;
    const a = await w.install("1.1.0");
    expect(a).toMatchObject({
      result: "failed",
      errorCode: "DISK_SPACE_LOW",
      deltaFallbackCode: "DISK_SPACE_LOW",
      bytesDownloaded: 0,
    });
    expect(w.phases(a.id)).toEqual(["downloading", "failed"]);
    expect(await w.active()).toBe("1.0.0");
  });

  it("a fallback survives a restart: the resumed attempt goes on with the bundle and never tries the delta again", async () => {
    const { w } = await deltaOffered();
    w.memory.available = 1024 * 1024;
    const stop = new Stopper();
    // The first mid-download point is the delta's; the second is the bundle's, fetched at staging.
    w.at("mid:downloading", () => stop.shutdown(), 2);
    await expect(w.install("1.1.0", stop.signal)).rejects.toMatchObject({ code: "INTERRUPTED" });
    const open = w.store.openAttempt();
    expect(open).toMatchObject({ phase: "staging", deltaFallbackCode: "MEMORY_LOW" });
    const done = await w.resume();
    expect(done).toMatchObject({ id: open?.id, result: "succeeded", delivery: "bundle", deltaFallbackCode: "MEMORY_LOW" });
    expect(w.memory.calls).toBe(1);
    expect(await w.active()).toBe("1.1.0");
  });
});
