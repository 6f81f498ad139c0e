import { randomBytes } from "node:crypto";
import { readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it, type TestContext } from "vitest";
import { makeDeltas } from "../../publisher/commands/delta.js";
import { canonicalJson } from "../../shared/canonical-json.js";
import { sha256Hex } from "../../shared/digest.js";
import { parseEnvelopeText, parseReleaseManifest, type ReleaseManifest } from "../../shared/manifest.js";
import { releaseManifestPath } from "../../shared/repo-layout.js";
import { parsePrivateKey, signEnvelope } from "../../shared/signature.js";
import { flipBitNearEnd } from "../helpers/bit-rot.js";
import { waitFor } from "../helpers/processes.js";
import { World, type WorldOptions } from "../helpers/world.js";

interface Delivery {
  delivery: string | null;
  deltaFrom: string | null;
  deltaFallback: { code: string; message: string } | null;
  bytesSaved: number;
  bytesDownloaded: number;
  result: string | null;
  version: string;
}

const PADDING_SEED = 42;

/**
 * 1.0.0 installed from its bundle; 1.1.0 built with the same backbone and a new head, a delta from 1.0.0 offered.
 * The world is the test's own and closes when it ends, so the cases run side by side.
 */
async function deviceOnV1WithDeltaOffered(
  ctx: Pick<TestContext, "onTestFinished">,
  opts: WorldOptions = {},
  extraBytes = 4 * 1024 * 1024,
): Promise<World> {
  const w = await World.create(opts);
  ctx.onTestFinished(() => w.close());
  await w.release("1.0.0", { extraBytes, paddingSeed: PADDING_SEED });
  const first = await w.cli(["check", "--json"]);
  expect(first.code, first.stderr).toBe(0);
  await w.release("1.1.0", { extraBytes, paddingSeed: PADDING_SEED, publish: false });
  const made = await makeDeltas({ repoDir: w.repoDir, name: w.name, from: ["1.0.0"], to: "1.1.0", keyPath: w.keyPath });
  expect(made.deltas[0]?.offered).toBe(true);
  await w.publish("1.1.0");
  return w;
}

async function releaseOf(w: World, version: string): Promise<ReleaseManifest> {
  const text = (await w.readRepoFile(releaseManifestPath(w.name, version))).toString("utf8");
  return parseReleaseManifest(parseEnvelopeText(text, "release.json").signed);
}

/** Rewrites the signed release manifest as a publisher with the key could, then points the channel at it again. */
async function resignRelease(w: World, version: string, change: (r: ReleaseManifest) => void): Promise<void> {
  const release = await releaseOf(w, version);
  change(release);
  const key = parsePrivateKey(await readFile(w.keyPath), w.keyPath);
  await writeFile(join(w.repoDir, releaseManifestPath(w.name, version)), canonicalJson(signEnvelope(release, [key])));
  await w.publish(version);
}

async function lastUpdate(w: World): Promise<Delivery> {
  return (await w.status()).lastUpdate as unknown as Delivery;
}

describe.concurrent("delta updates end to end", () => {
  it("rebuilds the new version from the active one and a delta; status and history show the bytes saved", async (ctx) => {
    const w = await deviceOnV1WithDeltaOffered(ctx);
    const release = await releaseOf(w, "1.1.0");
    const offer = release.deltas?.[0];
    expect(offer).toMatchObject({ from: "1.0.0", url: "releases/demo-model/1.1.0/deltas/1.0.0.epdelta" });
    if (!offer) throw new Error("no delta offered");
    // A fine-tuned head on a 4 MiB backbone: the delta is a small fraction of the bundle.
    expect(offer.size * 10).toBeLessThan(release.bundle.size);

    const r = await w.cli(["check", "--json"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const u = await lastUpdate(w);
    expect(u).toMatchObject({
      toVersion: "1.1.0",
      result: "succeeded",
      delivery: "delta",
      deltaFrom: "1.0.0",
      deltaFallback: null,
    });
    expect(u.bytesDownloaded).toBe(offer.size);
    expect(u.bytesSaved).toBe(release.bundle.size - offer.size);
    expect((await w.status()).activeVersion).toBe("1.1.0");

    // Every rebuilt file matches the signed manifest, and the base version was only read.
    expect((await w.cli(["verify", "--json"])).code).toBe(0);
    expect((await w.cli(["verify", "--version", "1.0.0", "--json"])).code).toBe(0);

    const text = await w.cli(["status"]);
    expect(text.stdout).toMatch(/Delivery:\s+delta from 1\.0\.0, [\d.]+ (KiB|MiB) less than the bundle/);
    const history = JSON.parse((await w.cli(["history", "--json"])).stdout) as (Delivery & { toVersion: string })[];
    expect(history.map((h) => [h.toVersion, h.delivery, h.bytesSaved])).toEqual([
      ["1.1.0", "delta", release.bundle.size - offer.size],
      ["1.0.0", "bundle", 0],
    ]);
    expect((await w.cli(["history"])).stdout).toMatch(/delta \(-[\d.]+ (KiB|MiB)\)/);
    // Nothing was left behind in the data folder's downloads, and nothing was written outside it.
    expect(await w.filesOutsideData()).toEqual([]);
  });

  it.for([
    {
      why: "the delta is missing from the repository",
      code: /^(HTTP_ERROR|DOWNLOAD_FAILED)$/,
      spoil: async (w: World, r: ReleaseManifest) => rm(join(w.repoDir, r.deltas?.[0]?.url ?? "")),
    },
    {
      why: "the downloaded delta does not match its signed digest",
      code: /^DIGEST_MISMATCH$/,
      spoil: async (w: World, r: ReleaseManifest) => {
        const path = join(w.repoDir, r.deltas?.[0]?.url ?? "");
        await writeFile(path, randomBytes((await stat(path)).size));
      },
    },
    {
      why: "a signed delta whose patch data is damaged (the rebuilt file would differ)",
      code: /^(DIGEST_MISMATCH|BUNDLE_CORRUPT)$/,
      spoil: async (w: World, r: ReleaseManifest) => {
        const path = join(w.repoDir, r.deltas?.[0]?.url ?? "");
        const bytes = await readFile(path);
        // The last byte belongs to the last blob of the data section: model.safetensors' changed head.
        bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0xff;
        await writeFile(path, bytes);
        await resignRelease(w, "1.1.0", (rel) => {
          const d = rel.deltas?.[0];
          if (d) d.sha256 = sha256Hex(bytes);
        });
      },
    },
    {
      why: "the active version's weights are not the delta's base",
      code: /^DELTA_BASE_MISMATCH$/,
      spoil: async (w: World) => {
        // Bit rot in the backbone of the active version: the service still loads it, the delta's base check does not pass.
        await flipBitNearEnd(join(w.dataDir, "versions", "1.0.0", "model.safetensors"));
      },
    },
  ])("falls back to the full bundle and records why when $why", async ({ code, spoil }, ctx) => {
    const w = await deviceOnV1WithDeltaOffered(ctx);
    await spoil(w, await releaseOf(w, "1.1.0"));
    const r = await w.cli(["check", "--json"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const u = await lastUpdate(w);
    expect(u).toMatchObject({ toVersion: "1.1.0", result: "succeeded", delivery: "bundle", bytesSaved: 0 });
    expect(u.deltaFallback?.code).toMatch(code);
    expect((await w.status()).activeVersion).toBe("1.1.0");
    expect((await w.cli(["verify", "--json"])).code).toBe(0);
    expect((await w.cli(["status"])).stdout).toMatch(/Delivery:\s+full bundle \(delta not used: [A-Z_]+: /);
    expect(await w.filesOutsideData()).toEqual([]);
  });

  it("falls back to the full bundle when free memory is below delta.minFreeMemoryMiB", async (ctx) => {
    const w = await deviceOnV1WithDeltaOffered(ctx, { extraConfig: { delta: { minFreeMemoryMiB: 1024 * 1024 } } });
    const r = await w.cli(["check", "--json"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const u = await lastUpdate(w);
    expect(u).toMatchObject({ toVersion: "1.1.0", result: "succeeded", delivery: "bundle" });
    expect(u.deltaFallback).toMatchObject({ code: "MEMORY_LOW", message: expect.stringMatching(/1048576 MiB of free memory/) });
  });

  it("takes the bundle without complaint when no delta is offered from the active version, or deltas are off", async (ctx) => {
    const w = await deviceOnV1WithDeltaOffered(ctx, { extraConfig: { delta: { enabled: false } } });
    expect((await w.cli(["check", "--json"])).code).toBe(0);
    expect(await lastUpdate(w)).toMatchObject({ toVersion: "1.1.0", delivery: "bundle", deltaFallback: null });

    // 1.2.0 offers a delta from 1.0.0 only; the device runs 1.1.0.
    await w.writeConfig({});
    await w.release("1.2.0", { extraBytes: 4 * 1024 * 1024, paddingSeed: PADDING_SEED, publish: false });
    await makeDeltas({ repoDir: w.repoDir, name: w.name, from: ["1.0.0"], to: "1.2.0", keyPath: w.keyPath });
    await w.publish("1.2.0");
    expect((await w.cli(["check", "--json"])).code).toBe(0);
    expect(await lastUpdate(w)).toMatchObject({ toVersion: "1.2.0", delivery: "bundle", deltaFallback: null });
  });

  it("kill -9 while patching: the restarted agent is on a verified version and finishes from the delta", async (ctx) => {
    const w = await deviceOnV1WithDeltaOffered(ctx, {}, 24 * 1024 * 1024);
    const doomed = w.startAgent({ EDGEPULL_FAULT: "mid:patching" });
    const exit = await doomed.exited;
    expect(exit.signal, doomed.dump()).toBe("SIGKILL");
    expect(doomed.hasLog((l) => l.point === "mid:patching")).toBe(true);
    expect((await w.status()).activeVersion).toBe("1.0.0");
    expect((await w.cli(["verify", "--json"])).code).toBe(0);

    const restarted = w.startAgent();
    await waitFor("the interrupted delta update to finish", async () => (await w.peekStatus()).phase === "idle", 40_000);
    const u = await lastUpdate(w);
    expect(u).toMatchObject({ toVersion: "1.1.0", result: "succeeded", delivery: "delta", deltaFallback: null });
    expect(await w.servedVersion()).toBe("1.1.0");
    expect((await w.cli(["verify", "--json"])).code).toBe(0);
    expect((await w.cli(["verify", "--version", "1.0.0", "--json"])).code).toBe(0);
    expect(restarted.hasLog((l) => l.msg === "found an interrupted attempt")).toBe(true);
    await restarted.stop();
  });
});
