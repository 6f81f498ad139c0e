import type { SignatureCheck } from "../../shared/signature.js";
import type { InspectReport } from "./inspect.js";

/** The human view of `edge-publish inspect`: what the JSON says, one fact per line. */

const SOURCE_KIND = { bundle: "bundle", "release-dir": "release folder", url: "release at" } as const;
const STATUS = { valid: "valid", invalid: "INVALID", "unknown-key": "not checked (not one of --keys)" } as const;

export function signaturesText(checks: SignatureCheck[], keysGiven: boolean): string {
  if (checks.length === 0) return "not signed";
  return checks
    .map(
      (c) => `${c.keyid.slice(0, 16)} ${c.status === "unknown-key" && !keysGiven ? "not checked (no --keys)" : STATUS[c.status]}`,
    )
    .join(", ");
}

function row(label: string, value: string): string {
  return `${label.padEnd(13)}${value}\n`;
}

export function inspectText(r: InspectReport): string {
  const keysGiven = r.keys.length > 0;
  const arch = r.compatibility.arch?.join(", ") ?? "any";
  const labels = r.compatibility.labels?.join(", ") ?? "none required";
  let out = `${r.name} ${r.version} (${SOURCE_KIND[r.source.kind]} ${r.source.location})\n`;
  out += row("compatible", `arch ${arch}; labels ${labels}`);
  out += row("files", `${r.files.length}, ${r.payloadBytes} bytes`);
  for (const f of r.files) out += `  ${f.sha256}  ${String(f.size).padStart(12)}  0${f.mode.toString(8)}  ${f.path}\n`;
  if (r.deltas !== null) {
    if (r.deltas.length === 0) out += row("deltas", "none offered");
    for (const [i, d] of r.deltas.entries()) {
      out += row(i === 0 ? "deltas" : "", `from ${d.from}: ${d.size} bytes, sha256 ${d.sha256} (${d.url})`);
    }
  }
  out += bundleText(r, keysGiven);
  if (r.release) {
    out += row("release.json", `created ${r.release.createdAt}; signed by ${signaturesText(r.release.signatures, keysGiven)}`);
    out += `${JSON.stringify(r.release.envelope, null, 2)}\n`;
  }
  return out;
}

function bundleText(r: InspectReport, keysGiven: boolean): string {
  const b = r.bundle;
  const facts = [b.size === null ? undefined : `${b.size} bytes`, b.sha256 === null ? undefined : `sha256 ${b.sha256}`];
  let out = row("bundle", [b.location, ...facts].filter((x) => x !== undefined).join(", "));
  if (!b.present) return out + row("", "MISSING: no bundle at that location");
  if (b.signatures) out += row("", `manifest.json signed by ${signaturesText(b.signatures, keysGiven)}`);
  if (b.matchesRelease === true) out += row("", "manifest.json matches release.json");
  if (b.problem) out += row("", `PROBLEM: ${b.problem.code}: ${b.problem.message}`);
  return out;
}
