import { EdgeError } from "../../shared/errors.js";
import { readCurrentVersion } from "../install/activate.js";
import { layoutFor, versionDir } from "../install/layout.js";
import { verifyVersionDir } from "../install/verify-version.js";
import { KeyRing } from "../sources/key-ring.js";
import { parseStoredRelease } from "../sources/sideload.js";
import { openDbReadOnly } from "../state/db.js";
import { StateStore } from "../state/store.js";
import { loadTrustedKeys } from "../trusted-keys.js";
import { type CliContext, EXIT, printJson } from "./context.js";

/** `edge-agent verify [--version V]`: re-hash a staged version (the active one by default) against its signed manifest. */
export async function verifyCommand(ctx: CliContext): Promise<number> {
  const layout = layoutFor(ctx.config.dataDir);
  const version = typeof ctx.flags.version === "string" ? ctx.flags.version : await readCurrentVersion(layout);
  if (!version) throw new EdgeError("VERIFY_FAILED", "no active version to verify");
  const db = openDbReadOnly(layout.dbPath);
  let releaseJson: string;
  let keys: KeyRing;
  try {
    const store = new StateStore(db);
    keys = new KeyRing(await loadTrustedKeys(ctx.config.trustedKeys), store, ctx.logger);
    const row = store.getVersion(version);
    if (!row) throw new EdgeError("VERIFY_FAILED", `the journal has no manifest for version ${version}`);
    releaseJson = row.releaseJson;
  } finally {
    db.close();
  }
  // The stored manifest is checked again: the journal is on the same disk as the files.
  const release = parseStoredRelease(releaseJson, keys.everTrusted());
  const problems = await verifyVersionDir(versionDir(layout, version), release.files);
  const ok = problems.length === 0;
  if (ctx.json) printJson(ctx, { version, ok, files: release.files.length, problems });
  else if (ok) ctx.out(`OK: ${version}: all ${release.files.length} files match the signed manifest\n`);
  else {
    ctx.out(`FAILED: ${version}: ${problems.length} file(s) differ from the signed manifest\n`);
    for (const p of problems) {
      const detail = p.expected ? ` (expected ${p.expected}, found ${p.actual})` : "";
      ctx.out(`  ${p.problem.padEnd(10)} ${p.path}${detail}\n`);
    }
  }
  return ok ? EXIT.OK : EXIT.FAILED;
}
