// Small helpers of the fleet page.
// Device ids, versions and error messages come from devices and are hostile
// input: every one of them reaches the page through textContent or
// setAttribute, never as markup.

const token = new URLSearchParams(location.search).get("token");
/** API paths carry the page's token (an EventSource cannot send headers). */
export function api(path) {
  return token ? `${path}?token=${encodeURIComponent(token)}` : path;
}

/** An element with attributes and children; strings become text nodes. */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === undefined || child === null) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

export function text(v) {
  return v === undefined || v === null ? "" : String(v);
}

export function ago(iso) {
  if (!iso) return "";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function bytes(n) {
  if (!n) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export const FAILED = new Set(["failed", "rolled_back"]);

export function healthText(d) {
  if (!d.online) return "";
  if (!d.health) return "";
  return d.health.ok ? "ok" : `failing${d.health.error ? `: ${d.health.error}` : ""}`;
}

export function resultText(d) {
  const r = d.lastResult;
  if (!r) return "";
  return `${text(r.result)} ${text(r.version)}${r.errorCode ? ` (${r.errorCode})` : ""}`.trim();
}

export function inventoryText(d) {
  const inv = d.inventory;
  if (!inv) return "";
  const parts = [inv.arch, inv.os];
  if (inv.memory?.totalBytes) parts.push(`${bytes(inv.memory.availableBytes)} / ${bytes(inv.memory.totalBytes)} free`);
  if (inv.temperatureC !== null && inv.temperatureC !== undefined) parts.push(`${inv.temperatureC} °C`);
  return parts.filter(Boolean).join(", ");
}
