import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Db, openDb } from "../../agent/state/db.js";
import { attemptTotals } from "../../agent/state/metrics-queries.js";
import { StateStore } from "../../agent/state/store.js";
import type { EdgeError } from "../../shared/errors.js";
import { newUpdateAttempt } from "../helpers/attempt-row.js";

/**
 * Rows the agent did not write (a damaged file, a hand edit, another agent
 * version) are refused by name when read back, never handed on as if typed.
 */

let dir: string;
let db: Db;
let store: StateStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "edgepull-rows-"));
  db = openDb(join(dir, "state.db"));
  store = new StateStore(db);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

function begin(): number {
  return store.beginAttempt(newUpdateAttempt);
}

function thrown(read: () => unknown): EdgeError {
  try {
    read();
  } catch (err) {
    return err as EdgeError;
  }
  throw new Error("expected the read to be refused");
}

describe("journal rows are parsed, not cast", () => {
  it("reads back what the store wrote, field for field", () => {
    const id = begin();
    store.setDelivery(id, "delta", "1.0.0");
    store.setDeltaFallback(id, "DELTA_FAILED", "bad patch");
    store.setError(id, "HEALTH_TIMEOUT", "no answer");
    store.finishAttempt(id, "rolled_back", { code: "ROLLBACK_FAILED", message: "still down" });
    expect(store.getAttempt(id)).toMatchObject({
      id,
      kind: "update",
      delivery: "bundle",
      deltaFrom: "1.0.0",
      deltaFallbackCode: "DELTA_FAILED",
      errorCode: "HEALTH_TIMEOUT",
      rollbackErrorCode: "ROLLBACK_FAILED",
      result: "rolled_back",
      bytesDownloaded: 0,
    });
    expect(store.recentFailures("2.0.0")).toEqual({ count: 0, lastAt: null });
    store.setLastCheck({ at: "2026-01-01T00:00:00.000Z", outcome: "up to date" });
    expect(store.lastCheck()).toEqual({ at: "2026-01-01T00:00:00.000Z", outcome: "up to date" });
    store.setHold({ at: "2026-01-01T00:00:00.000Z" });
    expect(store.hold()).toEqual({ at: "2026-01-01T00:00:00.000Z" });
  });

  it.each([
    [
      "an unknown phase",
      "UPDATE attempts SET phase = 'teleporting'",
      /attempts row \d+: phase is "teleporting", expected a phase/,
    ],
    [
      "an unknown error code",
      "UPDATE attempts SET error_code = 'GREMLINS'",
      /attempts row \d+: errorCode is "GREMLINS", expected one of/,
    ],
    [
      "a text where a count belongs",
      "UPDATE attempts SET bytes_downloaded = 'lots'",
      /attempts row \d+: bytesDownloaded is "lots", expected an integer/,
    ],
    [
      "bytes where the target version belongs",
      "UPDATE attempts SET to_version = X'00'",
      /attempts row \d+: toVersion is .*expected text/,
    ],
  ])("refuses %s in an attempt with JOURNAL_INVALID naming the column", (_name, sql, message) => {
    const id = begin();
    db.exec(sql);
    for (const read of [() => store.getAttempt(id), () => store.openAttempt(), () => store.history(5)]) {
      const err = thrown(read);
      expect(err.code).toBe("JOURNAL_INVALID");
      expect(err.message).toMatch(message);
    }
  });

  it("refuses a phase log entry, a deny-list row and a version row it did not write", () => {
    const id = begin();
    db.prepare("INSERT INTO phase_log (attempt_id, phase, at) VALUES (?, 'warp', 'now')").run(id);
    expect(thrown(() => store.phaseLog(id)).message).toMatch(/phase_log: phase is "warp"/);

    store.deny({ version: "2.0.0", releaseDigest: null, errorCode: "HEALTH_FAILED", reason: "r" });
    db.exec("UPDATE denied SET error_code = 'NOPE'");
    expect(thrown(() => store.isDenied("2.0.0")).message).toMatch(/denied row 2\.0\.0: errorCode is "NOPE"/);
    expect(thrown(() => store.listDenied()).code).toBe("JOURNAL_INVALID");

    db.prepare("INSERT INTO versions (version, release_json, release_digest, staged_at) VALUES ('3.0.0', X'00', 'd', 's')").run();
    expect(thrown(() => store.getVersion("3.0.0")).message).toMatch(/versions row 3\.0\.0: releaseJson is .*expected text/);
  });

  it("refuses key-value entries that are not the JSON it stored", () => {
    db.prepare("INSERT INTO kv (key, value) VALUES ('lastCheck', '{not json')").run();
    expect(thrown(() => store.lastCheck())).toMatchObject({ code: "JOURNAL_INVALID" });
    db.prepare("UPDATE kv SET value = ? WHERE key = 'lastCheck'").run(JSON.stringify({ at: 5, outcome: "x" }));
    expect(thrown(() => store.lastCheck()).message).toMatch(/lastCheck: at is 5, expected text/);
    db.prepare("INSERT INTO kv (key, value) VALUES ('hold', ?)").run(JSON.stringify({ at: "t", reason: ["x"] }));
    expect(thrown(() => store.hold()).message).toMatch(/hold: reason is \["x"\], expected text/);
    db.prepare("INSERT INTO kv (key, value) VALUES ('keys:abc', 'doc')").run();
    expect(thrown(() => store.keysDocuments()).message).toMatch(/key is "keys:abc", expected keys:<version>/);
  });

  it("refuses a metrics total that is not a whole count", () => {
    begin();
    db.exec("UPDATE attempts SET bytes_saved = 1.5");
    expect(thrown(() => attemptTotals(db)).message).toMatch(/bytesSaved is .*expected an integer/);
  });
});
