import { createHash } from "node:crypto";
import { mkdir, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../agent/config.js";
import { silentLogger } from "../../agent/logging.js";
import { KeyRing } from "../../agent/sources/key-ring.js";
import { WithdrawalTracker } from "../../agent/sources/withdrawal-tracker.js";
import { type Db, openDb } from "../../agent/state/db.js";
import { StateStore } from "../../agent/state/store.js";
import { loadTrustedKeys } from "../../agent/trusted-keys.js";
import { keygen } from "../../publisher/commands/keygen.js";
import { withdraw } from "../../publisher/commands/withdraw.js";
import { withdrawalListPath } from "../../shared/repo-layout.js";
import { type TempPublisher, tempPublisher } from "../helpers/temp-publisher.js";

const NAME = "det";
let publisher: TempPublisher;
let root: string;
let repoDir: string;
let keyPath: string;
let publicKeyPath: string;
let server: Server;
let url: string;
/** Status of every response the repository sent for the list. */
let statuses: number[];
/** When set, served instead of the file (a stale mirror). */
let served: Buffer | undefined;
const dbs: Db[] = [];

beforeEach(async () => {
  publisher = await tempPublisher("edgepull-withdrawals-", NAME, ["1.0.0", "1.1.0"]);
  ({ root, repoDir, keyPath, publicKeyPath } = publisher);
  statuses = [];
  served = undefined;
  // A static server with ETag and If-None-Match, reading the file afresh each time.
  server = createServer(async (req, res) => {
    let body: Buffer | undefined = served;
    if (!body) body = await readFile(join(repoDir, (req.url ?? "/").slice(1))).catch(() => undefined);
    const status = !body ? 404 : req.headers["if-none-match"] === etagOf(body) ? 304 : 200;
    statuses.push(status);
    res.writeHead(status, body ? { etag: etagOf(body) } : {});
    res.end(status === 200 ? body : undefined);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterEach(async () => {
  for (const db of dbs.splice(0)) db.close();
  await new Promise((r) => server.close(r));
  await rm(root, { recursive: true, force: true });
});

const etagOf = (b: Buffer) => `"${createHash("sha256").update(b).digest("hex").slice(0, 16)}"`;

/** A tracker over the device journal at root/data (the same journal each call: a restart). */
async function tracker(): Promise<{ t: WithdrawalTracker; store: StateStore }> {
  const config = parseConfig(
    {
      deviceId: "dev-1",
      dataDir: join(root, "data"),
      name: NAME,
      channel: "stable",
      repository: url,
      trustedKeys: [publicKeyPath],
      service: { mode: "command", command: ["true"] },
      health: { url: "http://127.0.0.1:1/ready" },
    },
    join(root, "agent.json"),
  );
  await mkdir(config.dataDir, { recursive: true });
  const db = openDb(join(config.dataDir, "state.db"));
  dbs.push(db);
  const store = new StateStore(db);
  const keyRing = new KeyRing(await loadTrustedKeys(config.trustedKeys), store, silentLogger());
  return { t: new WithdrawalTracker({ config, store, keyRing, logger: silentLogger(), now: () => new Date() }), store };
}

const withdrawNow = (version: string, reason = "bad") => withdraw({ repoDir, name: NAME, version, reason, keyPath });

describe("the device's withdrawal list", () => {
  it("404 is no list; a list is accepted and kept; an unchanged one comes back as 304", async () => {
    const { t, store } = await tracker();
    expect(await t.refresh()).toBe(false);
    expect(t.current()).toBeUndefined();
    expect(statuses).toEqual([404]);

    await withdrawNow("1.1.0", "NaN outputs");
    expect(await t.refresh()).toBe(true);
    expect(t.current()?.entries.map((e) => [e.version, e.reason])).toEqual([["1.1.0", "NaN outputs"]]);
    expect(store.withdrawals(NAME)?.sequence).toBe(1);
    expect(await t.refresh()).toBe(false);
    expect(statuses).toEqual([404, 200, 304]);

    // After a restart the journal's copy applies before any fetch.
    const again = await tracker();
    expect(again.t.current()?.entries[0]?.version).toBe("1.1.0");
  });

  it("refuses a replayed older list and a deleted one, keeping what it accepted", async () => {
    const { t, store } = await tracker();
    await withdrawNow("1.0.0");
    const first = await readFile(join(repoDir, withdrawalListPath(NAME)));
    await withdrawNow("1.1.0");
    expect(await t.refresh()).toBe(true);
    expect(store.withdrawals(NAME)?.sequence).toBe(2);

    served = first; // a mirror serving the list before 1.1.0 was withdrawn
    await expect(t.refresh()).rejects.toMatchObject({ code: "SEQUENCE_REPLAY" });
    served = undefined;
    await rm(join(repoDir, withdrawalListPath(NAME)));
    await expect(t.refresh()).rejects.toMatchObject({
      code: "HTTP_ERROR",
      message: expect.stringContaining("this device accepted withdrawal list sequence 2"),
    });
    expect(t.current()?.entries.map((e) => e.version)).toEqual(["1.0.0", "1.1.0"]);
    expect(store.withdrawals(NAME)?.sequence).toBe(2);
  });

  it("refuses a list its keys do not sign, or another model's", async () => {
    const { t } = await tracker();
    const stranger = await keygen({ outDir: join(root, "stranger") });
    await withdraw({ repoDir, name: NAME, version: "1.1.0", reason: "x", keyPath: stranger.privateKeyPath });
    await expect(t.refresh()).rejects.toMatchObject({ code: "KEY_UNTRUSTED" });
    await rm(join(repoDir, withdrawalListPath(NAME)));
    await publisher.build("other", "1.0.0");
    await withdraw({ repoDir, name: "other", version: "1.0.0", reason: "x", keyPath });
    served = await readFile(join(repoDir, withdrawalListPath("other")));
    await expect(t.refresh()).rejects.toMatchObject({ code: "NAME_MISMATCH" });
    expect(t.current()).toBeUndefined();
  });
});
