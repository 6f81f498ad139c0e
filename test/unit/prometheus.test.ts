import { describe, expect, it } from "vitest";
import { KNOWN_PHASES, type MetricsAttempt, renderMetrics } from "../../agent/telemetry/prometheus.js";
import type { StatusSnapshot } from "../../agent/telemetry/status-snapshot.js";
import { escapeLabelValue } from "../../shared/prometheus-text.js";

function snapshot(over: Partial<StatusSnapshot> = {}): StatusSnapshot {
  return {
    deviceId: "dev-1",
    name: "demo-model",
    channel: "stable",
    activeVersion: "1.2.0",
    previousVersion: "1.1.0",
    phase: "idle",
    attempt: null,
    lastCheck: { at: "2024-05-01T12:00:00.000Z", outcome: "up-to-date" },
    lastUpdate: null,
    denied: [],
    health: { url: "http://127.0.0.1:1/ready", ok: true, status: 200, latencyMs: 1 },
    disk: { path: "/data", mount: "/", availableBytes: 123456789 },
    daemon: { running: true, pid: 1, role: "daemon" },
    hold: null,
    withdrawn: null,
    state: "HEALTHY",
    healthy: true,
    problems: [],
    at: "2024-05-01T12:00:01.000Z",
    ...over,
  };
}

/** Sample lines as "name{labels}" -> value. */
function samples(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const cut = line.lastIndexOf(" ");
    out.set(line.slice(0, cut), line.slice(cut + 1));
  }
  return out;
}

function render(
  over: Partial<StatusSnapshot> = {},
  attempts: MetricsAttempt[] = [],
  agentVersion = "0.1.0",
): Map<string, string> {
  return samples(renderMetrics({ status: snapshot(over), attempts, agentVersion }));
}

const a = (kind: string, result: string | null, bytesDownloaded = 0, extra: Partial<MetricsAttempt> = {}): MetricsAttempt => ({
  kind,
  result,
  bytesDownloaded,
  ...extra,
});

describe("renderMetrics counters", () => {
  const cases: {
    title: string;
    attempts: MetricsAttempt[];
    expected: Record<string, string>;
  }[] = [
    {
      title: "an empty journal reports every counter at 0",
      attempts: [],
      expected: {
        'edgepull_updates_total{result="succeeded"}': "0",
        'edgepull_updates_total{result="rolled_back"}': "0",
        'edgepull_updates_total{result="failed"}': "0",
        'edgepull_updates_total{result="superseded"}': "0",
        'edgepull_rollbacks_total{kind="automatic"}': "0",
        'edgepull_rollbacks_total{kind="manual"}': "0",
        edgepull_downloaded_bytes_total: "0",
        edgepull_delta_saved_bytes_total: "0",
      },
    },
    {
      title: "update attempts count by result; open attempts count only their bytes",
      attempts: [
        a("update", "succeeded", 100),
        a("update", "succeeded", 50),
        a("update", "failed", 7),
        a("update", "superseded", 3),
        a("update", null, 1000),
      ],
      expected: {
        'edgepull_updates_total{result="succeeded"}': "2",
        'edgepull_updates_total{result="failed"}': "1",
        'edgepull_updates_total{result="superseded"}': "1",
        'edgepull_updates_total{result="rolled_back"}': "0",
        edgepull_downloaded_bytes_total: "1160",
      },
    },
    {
      title: "rolled-back updates are automatic rollbacks; operator rollbacks that took effect are manual",
      attempts: [
        a("update", "rolled_back"),
        a("update", "rolled_back"),
        a("rollback", "succeeded"),
        a("rollback", "failed"),
        a("rollback", null),
      ],
      expected: {
        'edgepull_updates_total{result="rolled_back"}': "2",
        'edgepull_updates_total{result="succeeded"}': "0",
        'edgepull_updates_total{result="failed"}': "0",
        'edgepull_rollbacks_total{kind="automatic"}': "2",
        'edgepull_rollbacks_total{kind="manual"}': "1",
      },
    },
    {
      title: "a manual rollback that itself rolled back counts as automatic, not as an update",
      attempts: [a("rollback", "rolled_back")],
      expected: {
        'edgepull_updates_total{result="rolled_back"}': "0",
        'edgepull_rollbacks_total{kind="automatic"}': "1",
        'edgepull_rollbacks_total{kind="manual"}': "0",
      },
    },
    {
      title: "grouped rows count `count` attempts and carry summed bytes",
      attempts: [a("update", "succeeded", 5000, { count: 4 }), a("rollback", "succeeded", 0, { count: 3 })],
      expected: {
        'edgepull_updates_total{result="succeeded"}': "4",
        'edgepull_rollbacks_total{kind="manual"}': "3",
        edgepull_downloaded_bytes_total: "5000",
      },
    },
    {
      title: "delta savings sum bytesSaved, absent as 0",
      attempts: [
        a("update", "succeeded", 10, { bytesSaved: 900 }),
        a("update", "succeeded", 20),
        a("update", null, 0, { bytesSaved: 1 }),
      ],
      expected: { edgepull_delta_saved_bytes_total: "901", edgepull_downloaded_bytes_total: "30" },
    },
  ];
  for (const c of cases) {
    it(c.title, () => {
      const got = render({}, c.attempts);
      for (const [key, value] of Object.entries(c.expected)) expect([key, got.get(key)]).toEqual([key, value]);
    });
  }
});

describe("renderMetrics phase gauge", () => {
  const cases = [...KNOWN_PHASES.map((phase) => ({ phase, extra: false })), { phase: "mystery", extra: true }];
  for (const c of cases) {
    it(`is one-hot for phase ${c.phase}`, () => {
      // "mystery" stands for a phase a newer journal may hold that this build's type does not know.
      const got = render({ phase: c.phase as StatusSnapshot["phase"] });
      const gauges = [...got].filter(([k]) => k.startsWith("edgepull_phase{"));
      expect(gauges).toHaveLength(KNOWN_PHASES.length + (c.extra ? 1 : 0));
      expect(gauges.filter(([, v]) => v === "1")).toEqual([[`edgepull_phase{phase="${c.phase}"}`, "1"]]);
      expect(gauges.filter(([, v]) => v === "0")).toHaveLength(gauges.length - 1);
    });
  }
});

describe("renderMetrics gauges from the status", () => {
  const cases: { title: string; over: Partial<StatusSnapshot>; expected: Record<string, string | undefined> }[] = [
    {
      title: "a healthy device",
      over: {},
      expected: {
        'edgepull_active_version_info{version="1.2.0",previous="1.1.0",name="demo-model",channel="stable"}': "1",
        edgepull_active_version_withdrawn: "0",
        edgepull_last_check_timestamp_seconds: "1714564800",
        edgepull_service_ready: "1",
        edgepull_healthy: "1",
        edgepull_denied_versions: "0",
        edgepull_free_disk_bytes: "123456789",
        'edgepull_agent_info{version="0.1.0"}': "1",
      },
    },
    {
      title: "a fresh device with nothing installed, no check, no disk reading, a dead service",
      over: {
        activeVersion: null,
        previousVersion: null,
        lastCheck: null,
        disk: { path: "/data", error: "ENOENT" },
        health: { url: "http://127.0.0.1:1/ready", ok: false, error: "ECONNREFUSED", latencyMs: 1 },
        healthy: false,
        problems: ["no active version"],
      },
      expected: {
        edgepull_last_check_timestamp_seconds: undefined,
        edgepull_free_disk_bytes: undefined,
        edgepull_service_ready: "0",
        edgepull_healthy: "0",
      },
    },
    {
      title: "no previous version and sub-second check time",
      over: { previousVersion: null, lastCheck: { at: "2024-05-01T12:00:00.250Z", outcome: "failed" } },
      expected: {
        'edgepull_active_version_info{version="1.2.0",previous="",name="demo-model",channel="stable"}': "1",
        edgepull_last_check_timestamp_seconds: "1714564800.25",
      },
    },
    {
      title: "denied versions are counted",
      over: {
        denied: [
          { version: "2.0.0", errorCode: "HEALTH_TIMEOUT", reason: "x", deniedAt: "2024-05-01T00:00:00Z" },
          { version: "2.0.1", errorCode: "SERVICE_CRASHED", reason: "y", deniedAt: "2024-05-01T00:00:00Z" },
        ],
      },
      expected: { edgepull_denied_versions: "2" },
    },
    {
      title: "an active version the publisher withdrew (kept running: WITHDRAWN, still healthy)",
      over: {
        withdrawn: { version: "1.2.0", reason: "NaN outputs", action: "stay", withdrawnAt: "2024-05-01T00:00:00Z" },
        state: "WITHDRAWN",
      },
      expected: { edgepull_active_version_withdrawn: "1", edgepull_healthy: "1" },
    },
    {
      title: "nothing installed: not withdrawn",
      over: { activeVersion: null, previousVersion: null },
      expected: { edgepull_active_version_withdrawn: "0" },
    },
  ];
  for (const c of cases) {
    it(c.title, () => {
      const got = render(c.over);
      for (const [key, value] of Object.entries(c.expected)) expect([key, got.get(key)]).toEqual([key, value]);
    });
  }

  it("omits the active version sample while nothing is installed", () => {
    const got = render({ activeVersion: null });
    expect([...got.keys()].filter((k) => k.startsWith("edgepull_active_version_info"))).toEqual([]);
  });
});

describe("renderMetrics escaping", () => {
  const cases = [
    { raw: "plain", escaped: "plain" },
    { raw: 'say "hi"', escaped: 'say \\"hi\\"' },
    { raw: "back\\slash", escaped: "back\\\\slash" },
    { raw: "two\nlines", escaped: "two\\nlines" },
    { raw: '\\"\n', escaped: '\\\\\\"\\n' },
    { raw: "ünïcode {x=1}", escaped: "ünïcode {x=1}" },
  ];
  for (const c of cases) {
    it(`escapes ${JSON.stringify(c.raw)} in label values`, () => {
      expect(escapeLabelValue(c.raw)).toBe(c.escaped);
      const text = renderMetrics({ status: snapshot(), attempts: [], agentVersion: c.raw });
      expect(text).toContain(`edgepull_agent_info{version="${c.escaped}"} 1\n`);
      // A raw newline in a value would split the sample across two lines.
      expect(text.split("\n").filter((l) => l.startsWith("edgepull_agent_info"))).toHaveLength(1);
    });
  }
});

describe("renderMetrics format", () => {
  it("gives every family one HELP and one TYPE line before its samples, and ends with a newline", () => {
    const text = renderMetrics({
      status: snapshot({ phase: "probation" }),
      attempts: [a("update", "failed", 3)],
      agentVersion: "0.1.0",
    });
    expect(text.endsWith("\n")).toBe(true);
    const lines = text.trimEnd().split("\n");
    const declared = new Map<string, string>();
    let helpFor: string | undefined;
    for (const line of lines) {
      const help = /^# HELP (\w+) .+$/.exec(line);
      const type = /^# TYPE (\w+) (counter|gauge)$/.exec(line);
      if (help) {
        expect(declared.has(help[1] as string)).toBe(false);
        helpFor = help[1];
      } else if (type) {
        expect(type[1]).toBe(helpFor);
        declared.set(type[1] as string, type[2] as string);
      } else {
        const sample = /^(\w+)(\{[^}]*\})? (\S+)$/.exec(line);
        expect(sample, line).not.toBeNull();
        expect(declared.has(sample?.[1] as string), line).toBe(true);
        expect(Number.isFinite(Number(sample?.[3])), line).toBe(true);
      }
    }
    expect([...declared]).toEqual([
      ["edgepull_updates_total", "counter"],
      ["edgepull_rollbacks_total", "counter"],
      ["edgepull_downloaded_bytes_total", "counter"],
      ["edgepull_delta_saved_bytes_total", "counter"],
      ["edgepull_phase", "gauge"],
      ["edgepull_active_version_info", "gauge"],
      ["edgepull_active_version_withdrawn", "gauge"],
      ["edgepull_last_check_timestamp_seconds", "gauge"],
      ["edgepull_service_ready", "gauge"],
      ["edgepull_healthy", "gauge"],
      ["edgepull_denied_versions", "gauge"],
      ["edgepull_free_disk_bytes", "gauge"],
      ["edgepull_agent_info", "gauge"],
    ]);
  });
});
