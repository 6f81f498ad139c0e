import { describe, expect, it } from "vitest";
import type { DeviceRow, FleetSnapshot } from "../../publisher/fleet/fleet-state.js";
import { cell, renderColumns, renderFleetTable } from "../../publisher/fleet/fleet-table.js";

function row(id: string, extra: Partial<DeviceRow> = {}): DeviceRow {
  return {
    deviceId: id,
    online: true,
    name: "demo",
    channel: "stable",
    agentVersion: "0.1.0",
    activeVersion: "1.1.0",
    previousVersion: "1.0.0",
    phase: "idle",
    lastResult: { version: "1.1.0", result: "succeeded", errorCode: null, at: "2026-03-01T09:58:00.000Z" },
    health: { ok: true, status: 200 },
    withdrawn: null,
    lastEvent: null,
    deviceAt: "2026-03-01T09:59:00.000Z",
    heardAt: "2026-03-01T10:00:00.000Z",
    lastSeen: "2026-03-01T09:59:00.000Z",
    lastSeenSource: "device",
    ...extra,
  };
}

/** The table's device rows as arrays of cells (columns are separated by two or more spaces). */
function deviceCells(text: string): string[][] {
  const [devices] = text.split("\n\n");
  return (devices ?? "")
    .split("\n")
    .slice(1)
    .map((line) => line.split(/ {2,}/));
}

describe("renderFleetTable: one row per device", () => {
  const cases: { what: string; device: DeviceRow; cells: string[] }[] = [
    {
      what: "healthy and online",
      device: row("dev-1"),
      cells: ["dev-1", "yes", "1.1.0", "idle", "succeeded (1.1.0)", "ok", "2026-03-01T09:59:00Z"],
    },
    {
      what: "rolled back, with the error code",
      device: row("dev-2", {
        lastResult: { version: "1.2.0", result: "rolled_back", errorCode: "HEALTH_TIMEOUT", at: null },
        health: { ok: false, status: 503 },
      }),
      cells: ["dev-2", "yes", "1.1.0", "idle", "rolled_back HEALTH_TIMEOUT (1.2.0)", "fail 503", "2026-03-01T09:59:00Z"],
    },
    {
      what: "attempt in progress, health probe error",
      device: row("dev-3", {
        phase: "downloading",
        lastResult: { version: "1.2.0", result: null, errorCode: null, at: null },
        health: { ok: false, error: "ECONNREFUSED" },
      }),
      cells: ["dev-3", "yes", "1.1.0", "downloading", "pending (1.2.0)", "fail ECONNREFUSED", "2026-03-01T09:59:00Z"],
    },
    {
      what: "offline by last-will, never seen before: dashes, and the time the view heard it",
      device: row("dev-4", {
        online: false,
        activeVersion: null,
        phase: null,
        lastResult: null,
        health: null,
        deviceAt: null,
        lastSeen: "2026-03-01T10:00:00.000Z",
        lastSeenSource: "fleet-view",
      }),
      cells: ["dev-4", "no", "-", "-", "-", "-", "2026-03-01T10:00:00Z (heard)"],
    },
    {
      what: "running a withdrawn version the publisher chose to keep",
      device: row("dev-5", {
        withdrawn: { version: "1.1.0", reason: "NaN", action: "stay", withdrawnAt: "2026-03-01T09:00:00Z" },
      }),
      cells: ["dev-5", "yes", "1.1.0 WITHDRAWN (kept)", "idle", "succeeded (1.1.0)", "ok", "2026-03-01T09:59:00Z"],
    },
    {
      what: "running a withdrawn version it is to move off",
      device: row("dev-6", {
        withdrawn: { version: "1.1.0", reason: "NaN", action: "move", withdrawnAt: "2026-03-01T09:00:00Z" },
      }),
      cells: ["dev-6", "yes", "1.1.0 WITHDRAWN", "idle", "succeeded (1.1.0)", "ok", "2026-03-01T09:59:00Z"],
    },
  ];
  it.each(cases)("$what", ({ device, cells }) => {
    const text = renderFleetTable({ devices: [device], versions: [] });
    expect(text.split("\n")[0]).toMatch(/^DEVICE +ONLINE +ACTIVE +PHASE +LAST RESULT +HEALTH +LAST SEEN$/);
    expect(deviceCells(text)).toEqual([cells]);
  });
});

describe("renderFleetTable: layout and summary", () => {
  const snapshot: FleetSnapshot = {
    devices: [row("dev-1"), row("a-much-longer-device-name", { online: false, activeVersion: "1.0.0" })],
    versions: [
      { version: "1.1.0", devices: 1, online: 1, failed: 0, withdrawn: 1 },
      { version: "1.0.0", devices: 1, online: 0, failed: 1, withdrawn: 0 },
      { version: null, devices: 2, online: 2, failed: 0, withdrawn: 0 },
    ],
  };

  it("aligns every column to its widest cell", () => {
    const lines = renderFleetTable(snapshot).split("\n\n")[0]?.split("\n") ?? [];
    expect(lines).toHaveLength(3);
    const onlineAt = new Set(lines.map((l) => l.search(/ONLINE|yes|no/)));
    expect(onlineAt.size).toBe(1);
    expect([...onlineAt][0]).toBe("a-much-longer-device-name".length + 2);
  });

  it("prints the per-version summary below the devices", () => {
    const summary = renderFleetTable(snapshot).split("\n\n")[1]?.trimEnd().split("\n") ?? [];
    expect(summary.map((l) => l.split(/ {2,}/))).toEqual([
      ["VERSION", "DEVICES", "ONLINE", "FAILED LAST RESULT", "WITHDRAWN"],
      ["1.1.0", "1", "1", "0", "1"],
      ["1.0.0", "1", "0", "1", "0"],
      ["(none)", "2", "2", "0", "0"],
    ]);
  });

  it("says so when no device has reported", () => {
    expect(renderFleetTable({ devices: [], versions: [] })).toBe("no device has reported a status\n");
  });
});

describe("cell: device text is untrusted", () => {
  const cases: { what: string; input: string; expected: string }[] = [
    { what: "plain text unchanged", input: "idle", expected: "idle" },
    { what: "terminal escapes defused", input: "\u001b[2Jidle\r\n", expected: "?[2Jidle??" },
    { what: "C1 controls defused", input: "a\u009bb", expected: "a?b" },
    { what: "long text cut with an ellipsis", input: "x".repeat(100), expected: `${"x".repeat(47)}…` },
  ];
  it.each(cases)("$what", ({ input, expected }) => {
    expect(cell(input)).toBe(expected);
  });

  it("a hostile phase cannot reach the terminal through the table", () => {
    const text = renderFleetTable({ devices: [row("dev-1", { phase: "\u001b]0;owned\u0007" })], versions: [] });
    expect(text.includes("\u001b") || text.includes("\u0007")).toBe(false);
  });
});

describe("renderColumns", () => {
  it("pads all but the last column and trims trailing space", () => {
    expect(
      renderColumns(
        ["A", "BB", "C"],
        [
          ["xxx", "", "z"],
          ["y", "w", ""],
        ],
      ),
    ).toBe("A    BB  C\nxxx      z\ny    w");
  });
});
