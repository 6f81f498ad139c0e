import { execFileSync } from "node:child_process";
import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { World } from "../helpers/world.js";

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

/**
 * `edge-agent install` given something that is not a regular file: it must end
 * at once with FILE_NOT_REGULAR, never wait on a FIFO that has no writer.
 */
describe("edge-agent install refuses what is not a regular file", () => {
  it("a FIFO, a folder whose one bundle is a FIFO, and a character device", async () => {
    world = await World.create();
    const w = world;
    const usb = join(w.root, "usb");
    await mkdir(join(usb, "folder"), { recursive: true });
    const fifo = join(usb, "demo-model-1.0.0.tar.gz");
    const fifoInFolder = join(usb, "folder", "demo-model-1.0.0.tar.gz");
    execFileSync("mkfifo", [fifo, fifoInFolder]);

    for (const target of [join(usb, "folder"), fifo, "/dev/zero"]) {
      const r = await w.cli(["install", target]);
      expect(r.code, `${target}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(
        /^edge-agent: FILE_NOT_REGULAR: .*(a FIFO|a character device); only a regular file can be installed/m,
      );
    }
    const json = await w.cli(["install", fifo, "--json"]);
    expect(json.code).toBe(1);
    expect(json.stderr).toMatch(/FILE_NOT_REGULAR/);

    expect((await w.status()).activeVersion).toBeNull();
    expect(await readdir(join(w.dataDir, "versions"))).toEqual([]);
    expect(await readdir(join(w.dataDir, "downloads"))).toEqual([]);
  });
});
