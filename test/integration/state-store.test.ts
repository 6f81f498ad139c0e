import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openDb, openDbReadOnly } from "../../agent/state/db.js";
import { attemptTotals } from "../../agent/state/metrics-queries.js";
import { MIGRATIONS } from "../../agent/state/migrations.js";
import { StateStore } from "../../agent/state/store.js";
import { newUpdateAttempt } from "../helpers/attempt-row.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "edgepull-store-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("state store (real SQLite)", () => {
  it("journals an attempt's phases and survives reopening", () => {
    const path = join(dir, "state.db");
    const db = openDb(path);
    const store = new StateStore(db);
    const id = store.beginAttempt(newUpdateAttempt);
    store.setPhase(id, "staging");
    db.close();

    const again = new StateStore(openDb(path));
    expect(again.openAttempt()).toMatchObject({ id, phase: "staging", toVersion: "2.0.0", result: null });
    again.setError(id, "HEALTH_TIMEOUT", "no answer");
    again.finishAttempt(id, "rolled_back");
    expect(again.openAttempt()).toBeUndefined();
    expect(again.lastFinishedAttempt()).toMatchObject({ result: "rolled_back", errorCode: "HEALTH_TIMEOUT" });
    expect(again.phaseLog(id).map((p) => p.phase)).toEqual(["downloading", "staging", "rolled_back"]);
  });

  it("records how an update arrived (delta, fallback, bytes saved) and sums the savings for metrics", () => {
    const db = openDb(join(dir, "state.db"));
    const store = new StateStore(db);
    const begin = (to: string) => store.beginAttempt({ ...newUpdateAttempt, toVersion: to });
    const viaDelta = begin("1.1.0");
    store.setDelivery(viaDelta, "delta", "1.0.0");
    store.setBytesSaved(viaDelta, 9000);
    store.finishAttempt(viaDelta, "succeeded");
    const fellBack = begin("1.2.0");
    store.setDelivery(fellBack, "delta", "1.1.0");
    store.setDeltaFallback(fellBack, "DELTA_BASE_MISMATCH", "config.json differs");
    store.finishAttempt(fellBack, "succeeded");
    expect(store.getAttempt(viaDelta)).toMatchObject({
      delivery: "delta",
      deltaFrom: "1.0.0",
      deltaFallbackCode: null,
      bytesSaved: 9000,
    });
    expect(store.getAttempt(fellBack)).toMatchObject({
      delivery: "bundle",
      deltaFrom: "1.1.0",
      deltaFallbackCode: "DELTA_BASE_MISMATCH",
      deltaFallbackMessage: "config.json differs",
      bytesSaved: 0,
    });
    expect(attemptTotals(db)).toEqual([{ kind: "update", result: "succeeded", count: 2, bytesDownloaded: 0, bytesSaved: 9000 }]);
    db.close();
  });

  it("upgrades a journal written by an agent before deltas without losing its attempts", () => {
    const path = join(dir, "state.db");
    const old = new Database(path);
    old.exec(MIGRATIONS[0] as string);
    old.pragma("user_version = 1");
    old
      .prepare(
        "INSERT INTO attempts (kind, source, to_version, phase, result, bytes_downloaded, started_at, updated_at, finished_at) VALUES ('update', 'poll', '1.0.0', 'succeeded', 'succeeded', 77, 't', 't', 't')",
      )
      .run();
    old.close();
    const db = openDb(path);
    expect(db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length);
    expect(new StateStore(db).lastFinishedAttempt()).toMatchObject({
      toVersion: "1.0.0",
      bytesDownloaded: 77,
      delivery: null,
      deltaFallbackCode: null,
      bytesSaved: 0,
    });
    db.close();
  });

  it("keeps the deny-list until cleared", () => {
    const store = new StateStore(openDb(join(dir, "s.db")));
    store.deny({ version: "3.0.0", releaseDigest: "x", errorCode: "HEALTH_TIMEOUT", reason: "never ready" });
    expect(store.isDenied("3.0.0")?.errorCode).toBe("HEALTH_TIMEOUT");
    expect(store.clearDenied("2.0.0")).toBe(0);
    expect(store.clearDenied("3.0.0")).toBe(1);
    expect(store.isDenied("3.0.0")).toBeUndefined();
  });

  it("counts failures since the last success for retry backoff", () => {
    const store = new StateStore(openDb(join(dir, "f.db")));
    const attempt = (result: "failed" | "succeeded") => {
      const id = store.beginAttempt({
        kind: "update",
        source: "poll",
        fromVersion: null,
        toVersion: "2.0.0",
        releaseJson: null,
        releaseDigest: null,
        phase: "downloading",
      });
      store.finishAttempt(id, result);
    };
    attempt("failed");
    attempt("succeeded");
    attempt("failed");
    attempt("failed");
    expect(store.recentFailures("2.0.0").count).toBe(2);
  });

  it("lets a read-only reader see committed state while a writer holds the database open", () => {
    const path = join(dir, "wal.db");
    const writer = new StateStore(openDb(path));
    writer.acceptPointer("stable", 7, "text");
    const reader = new StateStore(openDbReadOnly(path));
    expect(reader.highestSequence("stable")).toBe(7);
    expect(reader.lastPointerText("stable")).toBe("text");
  });
});
