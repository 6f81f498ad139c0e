import type { DeviceRow, FleetSnapshot, HealthView, LastResult, VersionSummary } from "./fleet-state.js";

/** Text rendering of a fleet snapshot for a terminal. No I/O. */

/** Device-supplied text is untrusted: no terminal escapes, no runaway widths. */
const CELL_MAX = 48;

export function cell(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point
  const clean = value.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
  return clean.length > CELL_MAX ? `${clean.slice(0, CELL_MAX - 1)}…` : clean;
}

function resultText(r: LastResult | null): string {
  if (r === null) return "-";
  const parts = [r.result ?? "pending"];
  if (r.errorCode) parts.push(r.errorCode);
  parts.push(`(${r.version})`);
  return parts.join(" ");
}

function healthText(h: HealthView | null): string {
  if (h === null) return "-";
  if (h.ok) return "ok";
  const why = h.status !== undefined ? String(h.status) : h.error;
  return why ? `fail ${why}` : "fail";
}

/** A withdrawn active version is marked where the version is shown: the device answers it is WITHDRAWN. */
function activeText(d: DeviceRow): string {
  if (d.activeVersion === null) return "-";
  if (!d.withdrawn) return d.activeVersion;
  return `${d.activeVersion} WITHDRAWN${d.withdrawn.action === "stay" ? " (kept)" : ""}`;
}

function seenText(d: DeviceRow): string {
  const time = d.lastSeen.replace(/\.\d{3}Z$/, "Z");
  return d.lastSeenSource === "device" ? time : `${time} (heard)`;
}

function deviceCells(d: DeviceRow): string[] {
  return [
    d.deviceId,
    d.online ? "yes" : "no",
    activeText(d),
    d.phase ?? "-",
    resultText(d.lastResult),
    healthText(d.health),
    seenText(d),
  ].map(cell);
}

function versionCells(v: VersionSummary): string[] {
  return [v.version ?? "(none)", String(v.devices), String(v.online), String(v.failed), String(v.withdrawn)].map(cell);
}

/** Columns padded to their widest cell; the last column is not padded. */
export function renderColumns(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [header, ...rows].map(line).join("\n");
}

export const DEVICE_HEADER = ["DEVICE", "ONLINE", "ACTIVE", "PHASE", "LAST RESULT", "HEALTH", "LAST SEEN"];
export const VERSION_HEADER = ["VERSION", "DEVICES", "ONLINE", "FAILED LAST RESULT", "WITHDRAWN"];

export function renderFleetTable(snapshot: FleetSnapshot): string {
  if (snapshot.devices.length === 0) return "no device has reported a status\n";
  const devices = renderColumns(DEVICE_HEADER, snapshot.devices.map(deviceCells));
  const versions = renderColumns(VERSION_HEADER, snapshot.versions.map(versionCells));
  return `${devices}\n\n${versions}\n`;
}
