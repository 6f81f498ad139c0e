import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../agent/logging.js";
import { KeyRing } from "../../agent/sources/key-ring.js";
import { type Db, openDb } from "../../agent/state/db.js";
import { StateStore } from "../../agent/state/store.js";
import { canonicalJson } from "../../shared/canonical-json.js";
import type { PublicKeyInfo } from "../../shared/signature.js";
import { keysDocument, type TestKey, testKey } from "../helpers/keys-documents.js";

/** A repository of keys documents over loopback HTTP that records every path asked for. */
async function keysServer() {
  const files = new Map<string, string>();
  const asked: string[] = [];
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").slice(1);
    asked.push(path);
    const body = files.get(path);
    if (body === undefined) res.writeHead(404, { "content-length": 0 }).end();
    else res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    asked,
    put(version: number, listed: TestKey[], signer: TestKey) {
      files.set(`keys/${version}.json`, canonicalJson(keysDocument(version, listed, signer)));
    },
    drop(version: number) {
      files.delete(`keys/${version}.json`);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const [k1, k2, k3] = [testKey(), testKey(), testKey()] as [TestKey, TestKey, TestKey];
const ids = (keys: PublicKeyInfo[]) => keys.map((k) => k.keyid);

let dir: string;
let db: Db;
let repo: Awaited<ReturnType<typeof keysServer>>;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "edgepull-keyring-"));
  db = openDb(join(dir, "state.db"));
  repo = await keysServer();
  repo.put(1, [k1], k1);
  repo.put(2, [k2], k1);
  repo.put(3, [k3], k2);
});
afterEach(async () => {
  db.close();
  await repo.close();
  rmSync(dir, { recursive: true, force: true });
});

const ring = (shipped: TestKey[]) =>
  new KeyRing(
    shipped.map((k) => k.pub),
    new StateStore(db),
    silentLogger(),
  );

describe("key ring (real SQLite, loopback HTTP)", () => {
  it("remembers where it entered: a restart fetches only the next document", async () => {
    expect(await ring([k2]).refresh(repo.url)).toBe(3);
    expect(repo.asked).toEqual(["keys/1.json", "keys/2.json", "keys/3.json", "keys/4.json"]);
    expect(new StateStore(db).keysDocuments().map((d) => d.version)).toEqual([3]);

    repo.asked.length = 0;
    const restarted = ring([k2]);
    expect(restarted.chainVersion).toBe(3);
    expect(ids(restarted.current())).toEqual([k3.id]);
    expect(await restarted.refresh(repo.url)).toBe(3);
    expect(repo.asked).toEqual(["keys/4.json"]);
  });

  it("refuses the chain going back: a repository without the accepted document leaves the keys as they are", async () => {
    await ring([k2]).refresh(repo.url);
    repo.drop(3);
    const restarted = ring([k2]);
    expect(await restarted.refresh(repo.url)).toBe(3);
    expect(ids(restarted.current())).toEqual([k3.id]);
  });

  it("entered on a listing it cannot verify, keeps nothing and reads the chain again until its key signs one", async () => {
    const keys = ring([k3]);
    expect(await keys.refresh(repo.url)).toBe(3);
    expect(ids(keys.current())).toEqual([k3.id]);
    expect(new StateStore(db).keysDocuments()).toEqual([]);

    const k4 = testKey();
    repo.put(4, [k4], k3);
    repo.asked.length = 0;
    expect(await keys.refresh(repo.url)).toBe(4);
    expect(repo.asked).toEqual(["keys/1.json", "keys/2.json", "keys/3.json", "keys/4.json", "keys/5.json"]);
    expect(ids(keys.current())).toEqual([k4.id]);
    expect(new StateStore(db).keysDocuments().map((d) => d.version)).toEqual([4]);
  });

  it("resumes a journal kept under other shipped keys from the first document the new keys sign, and trusts none before it", async () => {
    const first = ring([k1]);
    await first.refresh(repo.url);
    expect(ids(first.everTrusted()).sort()).toEqual([k1.id, k2.id, k3.id].sort());
    expect(new StateStore(db).keysDocuments().map((d) => d.version)).toEqual([1, 2, 3]);
    repo.asked.length = 0;
    const reshippedK2 = ring([k2]);
    expect(reshippedK2.chainVersion).toBe(3);
    expect(ids(reshippedK2.everTrusted()).sort()).toEqual([k2.id, k3.id].sort());
    expect(repo.asked).toEqual([]);

    const reshippedK3 = ring([k3]);
    expect(reshippedK3.chainVersion).toBe(0);
    expect(ids(reshippedK3.everTrusted())).toEqual([k3.id]);
    expect(await reshippedK3.refresh(repo.url)).toBe(3);
    expect(ids(reshippedK3.current())).toEqual([k3.id]);
  });
});
