import { execFileSync, spawn } from "node:child_process";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Shared by the packaging tests: running what a package installed into a throwaway root. */

export const REPO_ROOT = join(import.meta.dirname, "..", "..");
export const PACKAGING = join(REPO_ROOT, "packaging");

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion; never throws for a non-zero exit. */
export function run(cmd: string, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * What the packaging tier's globalSetup (test/setup/packaging-build.ts) built
 * once for the whole run, in the background while the other tiers ran:
 * build-tree.sh's tree and build-deb.sh's package made from it.
 */
export type PackagingBuild =
  | { ok: true; tree: string; deb: { deb: string; sizeBytes: number } }
  | { ok: false; error: string }
  | { ok: false; skipped: string };

declare module "vitest" {
  interface ProvidedContext {
    packagingBuild: { work: string; resultFile: string };
  }
}

/** Why the tree and the .deb cannot be built here, or undefined when they can. */
export function packagingBuildProblem(): string | undefined {
  const missing = ["dpkg", "dpkg-deb", "npm"].filter((c) => !hasCommand(c));
  return missing.length > 0 ? `needs ${missing.join(", ")}` : undefined;
}

export function hasCommand(name: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v "$1"`, "sh", name], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * Why installed files cannot be run at their real paths here, or undefined when
 * they can: that takes root and a private mount namespace (`unshare -m`).
 */
export function mountNamespaceProblem(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root for a private mount namespace";
  if (!hasCommand("unshare")) return "needs unshare (util-linux)";
  try {
    execFileSync("unshare", ["-m", "true"], { stdio: "ignore" });
    return undefined;
  } catch {
    return "unshare -m is not permitted here";
  }
}

/**
 * Runs `cmd` as if `root` were the installed system: in a private mount
 * namespace, the prefix's parent (/opt) becomes an empty tmpfs with root's
 * prefix bound at its real path, and root's bindir is overlaid on the real one,
 * so the absolute links, the units' paths and PATH lookups reach the installed
 * files. Nothing outside the namespace changes.
 */
export function runInstalled(
  root: string,
  cmd: string[],
  opts: { prefix?: string; bindir?: string; env?: Record<string, string> } = {},
): Promise<Ran> {
  const prefix = opts.prefix ?? "/opt/edgepull";
  const bindir = opts.bindir ?? "/usr/bin";
  const script = [
    "set -e",
    'mount -t tmpfs tmpfs "$(dirname "$2")"',
    'mkdir -p "$2"',
    'mount --bind "$1$2" "$2"',
    'mount -t overlay overlay -o "lowerdir=$1$3:$3" "$3"',
    "shift 3",
    'exec "$@"',
  ].join("\n");
  return run("unshare", ["-m", "sh", "-c", script, "sh", root, prefix, bindir, ...cmd], { env: opts.env });
}

const OVERLAY_SETUP = [
  "set -e",
  "W=$1; shift",
  'mount -t tmpfs tmpfs "$W"',
  'mkdir "$W/upper" "$W/work" "$W/merged"',
  'mount -t overlay overlay -o "lowerdir=/,upperdir=$W/upper,workdir=$W/work" "$W/merged"',
  'for d in proc dev sys; do mount --rbind "/$d" "$W/merged/$d"; done',
  'M="$W/merged"',
].join("\n");

/**
 * Runs a shell script against a copy-on-write view of this whole machine: in a
 * private mount namespace, an overlay of / whose writes go to a tmpfs, at $M.
 * `chroot "$M" dpkg -i ...` is then a real install (real adduser, real
 * dependencies) that vanishes with the namespace. `mountDir` must be an empty
 * folder; `args` follow as $1...
 */
export function runOnOverlay(mountDir: string, script: string, args: string[] = []): Promise<Ran> {
  return run("unshare", ["-m", "sh", "-c", `${OVERLAY_SETUP}\n${script}`, "sh", mountDir, ...args], { timeoutMs: 180_000 });
}

/** Why runOnOverlay cannot work here, or undefined when it can. */
export async function overlayProblem(mountDir: string): Promise<string | undefined> {
  const ns = mountNamespaceProblem();
  if (ns) return ns;
  const r = await runOnOverlay(mountDir, 'test -x "$M/bin/sh"');
  return r.code === 0 ? undefined : `an overlay of / is not possible here: ${r.stderr.trim()}`;
}

/** An empty root that `dpkg --root` accepts: its database and a minimal user database. */
export async function makeDpkgRoot(parent: string): Promise<string> {
  const root = await mkdtemp(join(parent, "dpkg-root-"));
  for (const dir of ["var/lib/dpkg/info", "var/lib/dpkg/updates", "var/log"]) await mkdir(join(root, dir), { recursive: true });
  await writeFile(join(root, "var/lib/dpkg/status"), "");
  await writeFile(join(root, "var/lib/dpkg/available"), "");
  await mkdir(join(root, "etc"));
  await writeFile(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  await writeFile(join(root, "etc/group"), "root:x:0:\n");
  return root;
}

/**
 * dpkg on a throwaway root. The maintainer scripts run on this machine without
 * chroot (the root has no shell) with DPKG_ROOT set, which they honor; the
 * dependencies (nodejs, libc) are this machine's.
 */
export function dpkg(root: string, args: string[]): Promise<Ran> {
  return run("dpkg", ["--root", root, "--force-script-chrootless", "--force-depends", ...args]);
}

/** A fresh temp folder for one test file. */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Every path below `dir`, relative and sorted: a layout to compare. */
export function listTree(dir: string): string[] {
  return execFileSync("find", [".", "-mindepth", "1"], { cwd: dir, encoding: "utf8" }).split("\n").filter(Boolean).sort();
}
