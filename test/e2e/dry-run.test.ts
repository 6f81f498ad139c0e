import { copyFile, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { bundlePath } from "../../shared/repo-layout.js";
import { flipBitNearEnd } from "../helpers/bit-rot.js";
import { SchemaValidator } from "../helpers/json-schema.js";
import { treeListing } from "../helpers/tree-hash.js";
import { World } from "../helpers/world.js";

const schemas = new SchemaValidator();
let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

async function toUsb(w: World, version: string): Promise<string> {
  await w.release(version, { publish: false });
  const usb = join(w.root, "usb");
  await mkdir(usb, { recursive: true });
  const dest = join(usb, `${w.name}-${version}.tar.gz`);
  await copyFile(join(w.repoDir, bundlePath(w.name, version)), dest);
  return dest;
}

/** Flips a byte of the last payload file inside the tar (past the 1 KiB end blocks and its padding), re-gzipped. */
async function rewritePayload(bundle: string): Promise<void> {
  const tar = gunzipSync(await readFile(bundle));
  const at = tar.length - 1024 - 600;
  tar[at] = (tar[at] as number) ^ 0xff;
  await writeFile(bundle, gzipSync(tar));
}

describe("dry runs", () => {
  it("check --dry-run and install --dry-run stage and verify, then leave the data folder byte-identical", async () => {
    world = await World.create();
    const w = world;
    await w.release("1.0.0");
    expect((await w.cli(["check"])).code).toBe(0);
    await w.release("1.1.0");
    const before = await treeListing(w.dataDir);
    expect(before.some((l) => l.startsWith("state.db file "))).toBe(true);

    const check = await w.cli(["check", "--dry-run", "--json"]);
    expect(check.code, check.stderr).toBe(0);
    const report = JSON.parse(check.stdout);
    expect(report).toMatchObject({
      ok: true,
      dryRun: true,
      via: "local",
      version: "1.1.0",
      activeVersion: "1.0.0",
      decision: { action: "install" },
      staging: { ok: true, steps: ["download", "stage-bundle"] },
    });
    expect(report.staging.bytesDownloaded).toBeGreaterThan(0);
    expect(schemas.validate("agent-dry-run.json", report), check.stdout).toEqual([]);
    expect(report.wouldDo).toMatch(/point current at 1\.1\.0 \(from 1\.0\.0\)/);
    // --json: stderr has no progress lines either (a pipe is not a terminal).
    expect(check.stderr).not.toMatch(/MiB\/s/);
    expect(await treeListing(w.dataDir)).toEqual(before);

    const valid = await toUsb(w, "2.0.0");
    const install = await w.cli(["install", valid, "--dry-run"]);
    expect(install.code, install.stderr).toBe(0);
    expect(install.stdout).toMatch(/^dry run: 2\.0\.0 from .* \(active: 1\.0\.0\)$/m);
    expect(install.stdout).toMatch(/^staging: +every file verified/m);
    // Off a terminal, progress is plain lines on stderr, never on stdout.
    expect(install.stderr).toMatch(/^download \d+\.\d\/\d+\.\d MiB \d+\.\d MiB\/s ETA /m);
    expect(install.stderr).toMatch(/^staging \d+\.\d\/\d+\.\d MiB /m);
    expect(install.stderr).not.toContain(String.fromCharCode(27));
    expect(install.stdout).not.toMatch(/MiB\/s/);
    expect(await treeListing(w.dataDir)).toEqual(before);

    // A payload byte changed inside a well-formed gzip tar: the signed manifest reads, staging verification fails.
    const corrupt = await toUsb(w, "2.1.0");
    await rewritePayload(corrupt);
    const bad = await w.cli(["install", corrupt, "--dry-run", "--json"]);
    expect(bad.code, bad.stderr).toBe(1);
    const badReport = JSON.parse(bad.stdout);
    expect(badReport).toMatchObject({ ok: false, dryRun: true, version: "2.1.0", staging: { ok: false } });
    expect(badReport.staging.error.code).toMatch(/^(DIGEST_MISMATCH|BUNDLE_CORRUPT)$/);
    expect(badReport.wouldDo).toMatch(/^nothing: staging 2\.1\.0 would fail/);
    expect(schemas.validate("agent-dry-run.json", badReport), bad.stdout).toEqual([]);
    // The same for a sideload that would go ahead.
    const goodJson = await w.cli(["install", valid, "--dry-run", "--json"]);
    expect(goodJson.code, goodJson.stderr).toBe(0);
    expect(schemas.validate("agent-dry-run.json", JSON.parse(goodJson.stdout)), goodJson.stdout).toEqual([]);
    expect(await treeListing(w.dataDir)).toEqual(before);
    expect(await treeListing(w.dataDir)).toEqual(before);

    // Corrupt early: refused before anything is staged, with the same error a real install gives.
    const early = await toUsb(w, "2.2.0");
    await flipBitNearEnd(early, (await stat(early)).size - 40);
    const refused = await w.cli(["install", early, "--dry-run"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^edge-agent: BUNDLE_CORRUPT: /m);
    expect(await treeListing(w.dataDir)).toEqual(before);

    // Nothing was recorded: history has the one real update, and 1.0.0 is still active.
    expect((await w.history()).length).toBe(1);
    expect((await w.status()).activeVersion).toBe("1.0.0");
  });
});
