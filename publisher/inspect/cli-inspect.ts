import { stat } from "node:fs/promises";
import { verifyBundle } from "../../shared/bundle-reader/verify-bundle.js";
import { EdgeError } from "../../shared/errors.js";
import type { PublicKeyInfo } from "../../shared/signature.js";
import { type CliIo, type Flags, repoFlag, report, str } from "../cli-run.js";
import type { CommandName } from "../cli-spec.js";
import { loadPublicKey } from "../key-file.js";
import { cliProgress, PLAIN_PROGRESS_MS } from "../progress.js";
import { inspect } from "./inspect.js";
import { inspectText } from "./inspect-text.js";
import { listReleases, releasesTable } from "./releases.js";

/** The CLI side of inspect, verify and releases: look at what is there, change nothing. */

async function keysFlag(flags: Flags): Promise<PublicKeyInfo[]> {
  const v = flags.keys;
  const paths = (Array.isArray(v) ? v : v === undefined ? [] : [v]).filter((x): x is string => typeof x === "string");
  const keys: PublicKeyInfo[] = [];
  for (const path of paths) keys.push(await loadPublicKey(path));
  return keys;
}

function onePositional(positionals: string[], command: CommandName, what: string): string {
  if (positionals.length !== 1) {
    throw new EdgeError(
      "USAGE",
      `${command} takes exactly one ${what} (found ${positionals.length}; see edge-publish ${command} --help)`,
    );
  }
  return positionals[0] as string;
}

export async function runInspect(flags: Flags, positionals: string[], io: CliIo): Promise<number> {
  const target = onePositional(positionals, "inspect", "BUNDLE, RELEASE_DIR or URL");
  const r = await inspect(target, await keysFlag(flags));
  report(io, r, inspectText(r));
  return 0;
}

export async function runVerify(flags: Flags, positionals: string[], io: CliIo): Promise<number> {
  const bundlePath = onePositional(positionals, "verify", "BUNDLE");
  const keys = await keysFlag(flags);
  if (keys.length === 0) throw new EdgeError("USAGE", "verify needs --keys PUBLIC_KEY (the keys a device trusts)");
  const st = await stat(bundlePath).catch((cause) => {
    throw new EdgeError("USAGE", `${bundlePath} does not exist`, { cause });
  });
  if (!st.isFile()) throw new EdgeError("FILE_NOT_REGULAR", `${bundlePath} is not a regular file; verify takes a bundle`);
  const progress = cliProgress(io.progressStream, "verify", io.json, { plainAfterMs: PLAIN_PROGRESS_MS });
  const verdict = await verifyBundle(bundlePath, keys, (done, total) => progress.update(done, total)).finally(() =>
    progress.finish(),
  );
  const m = verdict.manifest;
  const json = {
    ok: verdict.ok,
    bundle: bundlePath,
    name: m?.name ?? null,
    version: m?.version ?? null,
    signedBy: verdict.signedBy ?? null,
    files: m?.files.length ?? null,
    payloadBytes: m ? m.files.reduce((sum, f) => sum + f.size, 0) : null,
    ...(verdict.ok ? {} : { error: { code: verdict.error.code, message: verdict.error.message } }),
  };
  const what = m ? `${m.name} ${m.version} (${bundlePath})` : bundlePath;
  const text = verdict.ok
    ? `OK: ${what}: signed by ${verdict.signedBy.slice(0, 16)}; ${verdict.files} files, ${verdict.bytes} bytes match the signed manifest\n`
    : `FAILED: ${what}: ${verdict.error.code}: ${verdict.error.message}\n`;
  report(io, json, text);
  return verdict.ok ? 0 : 1;
}

export async function runReleases(flags: Flags, io: CliIo): Promise<number> {
  const r = await listReleases({ repoDir: await repoFlag(flags, "releases"), name: str(flags, "name") });
  for (const p of r.problems) io.warn(`edge-publish: skipped ${p.path}: ${p.error}\n`);
  report(io, r, r.releases.length === 0 ? "no releases\n" : releasesTable(r.releases));
  return 0;
}
