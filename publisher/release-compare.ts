import { canonicalJson } from "../shared/canonical-json.js";
import type { Compatibility, PayloadFile } from "../shared/manifest.js";

/**
 * Why an existing release cannot be the same build as the one asked for, one
 * line per difference; empty when the content is the same. A version's content
 * never changes once built: devices may already run it.
 */
export function payloadDifferences(
  existing: { files: PayloadFile[]; compatibility?: Compatibility },
  wanted: { files: PayloadFile[]; compatibility?: Compatibility },
): string[] {
  const out: string[] = [];
  const before = new Map(existing.files.map((f) => [f.path, f]));
  const after = new Map(wanted.files.map((f) => [f.path, f]));
  const paths = [...new Set([...before.keys(), ...after.keys()])].sort();
  for (const path of paths) {
    const a = before.get(path);
    const b = after.get(path);
    if (!a) out.push(`${path} is new`);
    else if (!b) out.push(`${path} is gone`);
    else {
      const what: string[] = [];
      if (a.size !== b.size) what.push(`size ${a.size} -> ${b.size}`);
      if (a.sha256 !== b.sha256) what.push(`sha256 ${a.sha256.slice(0, 12)} -> ${b.sha256.slice(0, 12)}`);
      if (a.mode !== b.mode) what.push(`mode ${a.mode.toString(8)} -> ${b.mode.toString(8)}`);
      if (what.length > 0) out.push(`${path}: ${what.join(", ")}`);
    }
  }
  const ca = canonicalJson(existing.compatibility ?? {});
  const cb = canonicalJson(wanted.compatibility ?? {});
  if (ca !== cb) out.push(`compatibility ${ca} -> ${cb}`);
  return out;
}
