import { copyFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writeExampleModel } from "../../packaging/example-service/make-model.js";
import { buildRelease } from "../../publisher/commands/build.js";
import { keygen } from "../../publisher/commands/keygen.js";
import { bundlePath } from "../../shared/repo-layout.js";
import { waitFor } from "../helpers/processes.js";
import { World } from "../helpers/world.js";

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

/** Builds `version` and copies its bundle onto a "USB stick" folder; returns the bundle's path there. */
async function toUsb(w: World, version: string, opts: { keyPath?: string; broken?: boolean } = {}): Promise<string> {
  await w.release(version, { publish: false, broken: opts.broken });
  let source = join(w.repoDir, bundlePath(w.name, version));
  if (opts.keyPath) {
    const model = join(w.root, `stranger-model-${version}`);
    await writeExampleModel(model, { version, seed: 9 });
    const strangerRepo = join(w.root, "stranger-repo");
    await buildRelease({ modelDir: model, name: w.name, version, repoDir: strangerRepo, keyPath: opts.keyPath });
    source = join(strangerRepo, bundlePath(w.name, version));
  }
  const usb = join(w.root, "usb", version);
  await mkdir(usb, { recursive: true });
  const dest = join(usb, `${w.name}-${version}.tar.gz`);
  await copyFile(source, dest);
  return dest;
}

describe("offline sideloading", () => {
  it("installs a bundle file with the daemon stopped, and a folder through the running daemon", async () => {
    world = await World.create();
    const w = world;
    const v1 = await toUsb(w, "1.0.0");
    const local = await w.cli(["install", v1, "--json"]);
    expect(local.code, local.stderr).toBe(0);
    expect(JSON.parse(local.stdout)).toMatchObject({ ok: true, via: "local", version: "1.0.0" });
    expect((await w.status()).activeVersion).toBe("1.0.0");
    expect((await w.cli(["verify"])).code).toBe(0);

    const agent = w.startAgent();
    await waitFor("v1 serving under the daemon", async () => (await w.servedVersion()) === "1.0.0", 30_000);
    const v2 = await toUsb(w, "2.0.0");
    const viaDaemon = await w.cli(["install", join(v2, ".."), "--json"]);
    expect(viaDaemon.code, viaDaemon.stderr).toBe(0);
    expect(JSON.parse(viaDaemon.stdout)).toMatchObject({ ok: true, via: "daemon", version: "2.0.0" });
    expect(await w.servedVersion()).toBe("2.0.0");

    // A broken model is rolled back exactly as a download would be.
    const v3 = await toUsb(w, "3.0.0", { broken: true });
    const broken = await w.cli(["install", v3, "--json"]);
    expect(broken.code).toBe(1);
    expect(JSON.parse(broken.stdout).attempt).toMatchObject({ result: "rolled_back", errorCode: "HEALTH_TIMEOUT" });
    expect(await w.servedVersion()).toBe("2.0.0");
    await agent.stop();
  });

  it("refuses a bundle signed by an untrusted key and a truncated one, leaving the active version alone", async () => {
    world = await World.create();
    const w = world;
    expect((await w.cli(["install", await toUsb(w, "1.0.0")])).code).toBe(0);
    const stranger = await keygen({ outDir: join(w.root, "stranger-keys") });
    const forged = await w.cli(["install", await toUsb(w, "2.0.0", { keyPath: stranger.privateKeyPath })]);
    expect(forged.code).toBe(1);
    expect(forged.stderr).toMatch(/^edge-agent: KEY_UNTRUSTED: /m);

    const good = await readFile(await toUsb(w, "2.1.0"));
    const cut = join(w.root, "usb", "cut.tar.gz");
    await writeFile(cut, good.subarray(0, 200));
    const truncated = await w.cli(["install", cut]);
    expect(truncated.code).toBe(1);
    expect(truncated.stderr).toMatch(/^edge-agent: BUNDLE_(TRUNCATED|CORRUPT): /m);

    const s = await w.status();
    expect(s.activeVersion).toBe("1.0.0");
    expect(await readdir(join(w.dataDir, "versions"))).toEqual(["1.0.0"]);
  });

  it("installs from the inbox only once a copy has finished, and moves hostile files aside with the reason", async () => {
    world = await World.create({ extraConfig: { inbox: "inbox" } });
    const w = world;
    const inbox = join(w.root, "device", "inbox");
    const agent = w.startAgent();
    await agent.waitForLog("inbox watched", (l) => l.msg === "watching the inbox for bundles");

    await writeFile(join(inbox, "garbage.tar.gz"), "this is not a bundle");
    await waitFor("garbage moved to failed/", async () =>
      (await readdir(join(inbox, "failed"))).includes("garbage.tar.gz.result.json"),
    );
    const verdict = JSON.parse(await readFile(join(inbox, "failed", "garbage.tar.gz.result.json"), "utf8"));
    expect(verdict).toMatchObject({ ok: false, result: "refused", errorCode: "BUNDLE_CORRUPT" });

    // A slow copy: half now, the rest later. Nothing may install from the half.
    const bytes = await readFile(await toUsb(w, "1.0.0"));
    const target = join(inbox, "model-1.0.0.tar.gz");
    await writeFile(target, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await new Promise((r) => setTimeout(r, 1000));
    await writeFile(target, bytes);
    await waitFor("v1 installed from the inbox", async () => (await w.servedVersion()) === "1.0.0", 30_000);
    await waitFor("bundle moved to installed/", async () =>
      (await readdir(join(inbox, "installed"))).includes("model-1.0.0.tar.gz"),
    );
    expect((await readdir(join(inbox, "failed"))).filter((n) => n.startsWith("model"))).toEqual([]);
    const history = JSON.parse((await w.cli(["history", "--json"])).stdout) as { source: string; result: string }[];
    expect(history.map((h) => `${h.source}:${h.result}`)).toEqual(["inbox:succeeded"]);
    await agent.stop();
  });
});
