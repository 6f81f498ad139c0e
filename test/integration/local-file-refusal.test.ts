import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent } from "../../agent/agent.js";
import { copyLocalBundle } from "../../agent/bundle/local-copy.js";
import { parseConfig } from "../../agent/config.js";
import { silentLogger } from "../../agent/logging.js";
import { InboxWatcher } from "../../agent/sources/inbox.js";
import { keygen } from "../../publisher/commands/keygen.js";
import { sha256Hex } from "../../shared/digest.js";
import { waitFor } from "../helpers/processes.js";

/**
 * Local files offered from outside (a sideload argument, a folder's one
 * bundle, the inbox, a sideload resumed from its record) are opened without
 * blocking and refused unless they are regular files: a FIFO with no writer
 * must end with FILE_NOT_REGULAR at once, not hang the agent.
 */
let root: string;
let dataDir: string;
let agent: Agent;

function mkfifo(path: string): string {
  execFileSync("mkfifo", [path]);
  return path;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "accepted";
  } catch (err) {
    return (err as { code: string }).code;
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-local-file-"));
  dataDir = join(root, "device", "data");
  const keys = await keygen({ outDir: join(root, "keys") });
  const config = parseConfig(
    {
      deviceId: "dev-local-file",
      dataDir,
      name: "demo-model",
      channel: "stable",
      repository: "http://127.0.0.1:9",
      trustedKeys: [keys.publicKeyPath],
      service: { mode: "command", command: ["true"] },
      health: { url: "http://127.0.0.1:9/ready" },
    },
    join(root, "device", "agent.json"),
  );
  agent = await Agent.open(config, silentLogger(), "test");
  await mkdir(join(root, "usb", "folder"), { recursive: true });
});

afterAll(async () => {
  await agent?.stop();
  await rm(root, { recursive: true, force: true });
});

describe("sideloads never block on a file that is not regular", () => {
  it("installLocal refuses a FIFO, a folder whose bundle is a FIFO, and a device", async () => {
    const fifo = mkfifo(join(root, "usb", "pipe.tar.gz"));
    mkfifo(join(root, "usb", "folder", "demo-model-1.0.0.tar.gz"));
    for (const target of [join(root, "usb", "folder"), fifo, "/dev/zero"]) {
      expect(await codeOf(agent.installLocal(target, "sideload")), target).toBe("FILE_NOT_REGULAR");
    }
    expect(agent.store.history(10)).toEqual([]);
    expect(await readdir(join(dataDir, "downloads"))).toEqual([]);
  });

  it("copying a sideload whose file became a FIFO since it was checked ends with FILE_NOT_REGULAR", async () => {
    const fifo = mkfifo(join(root, "usb", "swapped.tar.gz"));
    const partPath = join(dataDir, "downloads", "demo-model-9.9.9.tar.gz.part");
    const copy = copyLocalBundle({
      url: pathToFileURL(fifo).toString(),
      partPath,
      expectedSize: 10,
      expectedSha256: sha256Hex(""),
    });
    expect(await codeOf(copy)).toBe("FILE_NOT_REGULAR");
    expect(await readdir(join(dataDir, "downloads"))).toEqual([]);
  });

  it("copyLocalBundle refuses anything but a file: URL, so a sideload never touches the network", async () => {
    const partPath = join(dataDir, "downloads", "demo-model-9.9.8.tar.gz.part");
    for (const url of ["http://127.0.0.1:9/b.tar.gz", "releases/demo-model/9.9.8/b.tar.gz"]) {
      expect(await codeOf(copyLocalBundle({ url, partPath, expectedSize: 1, expectedSha256: sha256Hex("") })), url).toBe(
        "URL_FORBIDDEN",
      );
    }
  });

  it("a FIFO dropped into the inbox is moved to failed/ with FILE_NOT_REGULAR, and the inbox keeps working", async () => {
    const inbox = join(root, "inbox");
    const watcher = new InboxWatcher(inbox, (path) => agent.installLocal(path, "inbox"), silentLogger(), 100);
    await watcher.start();
    try {
      mkfifo(join(inbox, "pipe.tar.gz"));
      const verdictPath = join(inbox, "failed", "pipe.tar.gz.result.json");
      await waitFor("the FIFO moved to failed/", async () =>
        (await readdir(join(inbox, "failed"))).includes("pipe.tar.gz.result.json"),
      );
      expect(JSON.parse(await readFile(verdictPath, "utf8"))).toMatchObject({
        ok: false,
        result: "refused",
        errorCode: "FILE_NOT_REGULAR",
      });
      // The next file is still taken (nothing is stuck behind the FIFO).
      await writeFile(join(inbox, "garbage.tar.gz"), "not a bundle");
      await waitFor("garbage moved to failed/", async () =>
        (await readdir(join(inbox, "failed"))).includes("garbage.tar.gz.result.json"),
      );
    } finally {
      await watcher.stop();
    }
  });
});
