import { describe, expect, it } from "vitest";
import { statusText, summaryOf, wrap } from "../../agent/cli/status-text.js";
import type { StatusSnapshot } from "../../agent/telemetry/status-snapshot.js";
import type { AttemptJson } from "../../shared/attempt-json.js";

function attempt(patch: Partial<AttemptJson>): AttemptJson {
  return {
    id: 2,
    kind: "update",
    source: "poll",
    fromVersion: "1.0.0",
    toVersion: "1.1.0",
    releaseDigest: null,
    phase: "committed",
    result: "succeeded",
    errorCode: null,
    error: null,
    rollbackErrorCode: null,
    rollbackError: null,
    startedAt: "2026-12-04T10:00:00.000Z",
    finishedAt: "2026-12-04T10:00:30.000Z",
    durationMs: 30_000,
    bytesDownloaded: 1024,
    delivery: null,
    deltaFrom: null,
    deltaFallback: null,
    bytesSaved: 0,
    ...patch,
  } as AttemptJson;
}

function snapshot(patch: Partial<StatusSnapshot> = {}): StatusSnapshot {
  return {
    deviceId: "cam-01",
    name: "demo-model",
    channel: "stable",
    activeVersion: "1.1.0",
    previousVersion: "1.0.0",
    phase: "idle",
    attempt: null,
    lastCheck: { at: "2026-12-04T10:00:05.000Z", outcome: "busy: already installing 1.1.0" },
    lastUpdate: attempt({}),
    denied: [],
    health: { url: "http://127.0.0.1:8080/ready", ok: true, status: 200, latencyMs: 3 },
    disk: { path: "/var/lib/edgepull", mount: "/", availableBytes: 8 * 1024 ** 3 },
    daemon: { running: true, pid: 42, role: "daemon" },
    hold: null,
    withdrawn: null,
    state: "HEALTHY",
    healthy: true,
    problems: [],
    at: "2026-12-04T10:01:00.000Z",
    ...patch,
  } as StatusSnapshot;
}

const occurrences = (text: string, part: string): number => text.split(part).length - 1;

describe("edge-agent status, the human view", () => {
  it("starts with a summary of the device now", () => {
    const text = statusText(snapshot());
    expect(text.split("\n")[0]).toMatch(/^Summary: +HEALTHY: 1\.1\.0 serving and ready$/);
  });

  it("does not say busy installing a version whose attempt has since ended", () => {
    const text = statusText(snapshot());
    expect(text).not.toContain("busy");
    expect(text).toMatch(/^Last check: +\S+ {2}found 1\.1\.0; that attempt has ended: succeeded at 2026-12-04T10:00:30\.000Z$/m);
    // While the attempt is still open the check's words are still true.
    const open = attempt({ phase: "downloading", result: null, finishedAt: null });
    const busy = statusText(snapshot({ attempt: open, lastUpdate: open, phase: "downloading" }));
    expect(busy).toMatch(/^Last check: +\S+ {2}busy: already installing 1\.1\.0$/m);
    expect(busy.split("\n")[0]).toMatch(/^Summary: +UPDATING 1\.0\.0 -> 1\.1\.0 \(downloading\)$/);
  });

  it("says a rolled-back, deny-listed version once, and the summary names it", () => {
    const error = "the service did not answer ready within 30 s at http://127.0.0.1:8080/ready (last: ECONNREFUSED)";
    const rolledBack = attempt({
      toVersion: "1.2.0",
      fromVersion: "1.1.0",
      result: "rolled_back",
      errorCode: "HEALTH_TIMEOUT",
      error,
    });
    const text = statusText(
      snapshot({
        lastUpdate: rolledBack,
        lastCheck: {
          at: "2026-12-04T10:05:00.000Z",
          outcome: `denied: 1.2.0 is on the deny-list (HEALTH_TIMEOUT: ${error}); clear it with edge-agent allow 1.2.0`,
        },
        denied: [{ version: "1.2.0", errorCode: "HEALTH_TIMEOUT", reason: error, deniedAt: "2026-12-04T10:00:30.000Z" }],
      }),
    );
    expect(text.split("\n")[0]).toMatch(
      /HEALTHY: 1\.1\.0 serving and ready; 1\.2\.0 rolled back \(HEALTH_TIMEOUT\), deny-listed$/,
    );
    expect(occurrences(text, error)).toBe(1);
    expect(text).toMatch(/^Deny-list: +1\.2\.0 {2}HEALTH_TIMEOUT: \(as under Last update\)/m);
    expect(text).toMatch(
      /^Last check: +\S+ {2}denied: 1\.2\.0 is on the deny-list \(HEALTH_TIMEOUT: \(as under Last update\)\); clear it/m,
    );
  });

  it("wraps long values at the terminal's width under the value column, dropping nothing", () => {
    const error = `bundle refused: ${"entry ../../etc/passwd escapes the staging folder; ".repeat(4)}end`;
    const failed = attempt({ result: "failed", errorCode: "BUNDLE_CORRUPT", error, toVersion: "1.2.0" });
    const text = statusText(snapshot({ lastUpdate: failed }), 70);
    for (const line of text.trimEnd().split("\n")) expect(line.length, line).toBeLessThanOrEqual(70);
    const start = text.indexOf("Last update:");
    const block = text.slice(start).split("\n");
    const continued = block.slice(1).filter((l) => l.startsWith(" ".repeat(18)));
    expect(continued.length).toBeGreaterThan(1);
    const rejoined = [block[0]?.slice(18), ...continued.map((l) => l.slice(18))].join(" ");
    expect(rejoined).toContain(error);
    // Off a terminal, one row per line, whole.
    expect(statusText(snapshot({ lastUpdate: failed }))).toContain(`BUNDLE_CORRUPT: ${error}\n`);
  });

  it("degraded: the summary gives the first problem and the rows list the others", () => {
    const problems = [
      "service not ready at http://127.0.0.1:8080/ready: ECONNREFUSED",
      "last rollback failed (ROLLBACK_FAILED): x",
    ];
    const s = snapshot({
      healthy: false,
      state: "DEGRADED",
      problems,
      health: { url: "u", ok: false, error: "ECONNREFUSED", latencyMs: 1 },
    });
    expect(summaryOf(s)).toBe(`DEGRADED: ${problems[0]} (and 1 more below)`);
    const text = statusText(s);
    expect(occurrences(text, problems[0] as string)).toBe(1);
    expect(text).toMatch(/^Problem: +last rollback failed/m);
  });

  it("wrap breaks inside a word only when it is longer than a line", () => {
    expect(wrap("aaaa bbbb cccc", 9)).toEqual(["aaaa bbbb", "cccc"]);
    expect(wrap("x".repeat(25), 10)).toEqual(["x".repeat(10), "x".repeat(10), "x".repeat(5)]);
  });
});
