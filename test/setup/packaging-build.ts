import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { hasCommand, PACKAGING, type PackagingBuild, packagingBuildProblem, REPO_ROOT } from "../packaging/packaging-root.js";

/**
 * globalSetup of the packaging tier. build-tree.sh (tsc, then `npm ci
 * --omit=dev`; the native addons are copied from the checkout's node_modules
 * when they are the locked versions and load, since compiling them again took
 * two minutes of the two cores the other tiers are using) and
 * build-deb.sh run once per run, started here in the background: vitest runs
 * this before the first test of any tier, and the packaging tier runs last
 * (queued last: tier-sequencer.ts), so the build overlaps the other tiers instead of
 * holding a worker. Packaging tests wait for the result file
 * (sharedPackagingBuild); teardown stops a build still running and deletes it.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const work = await mkdtemp(join(tmpdir(), "edgepull-packaging-build-"));
  const resultFile = join(work, "result.json");
  project.provide("packagingBuild", { work, resultFile });
  let current: ChildProcess | undefined;
  let stopping = false;
  let addons = "";

  const startedAt = Date.now();
  const finish = async (result: PackagingBuild): Promise<void> => {
    const outcome = result.ok ? "ready" : "skipped" in result ? `skipped (${result.skipped})` : "failed";
    if (!stopping)
      process.stderr.write(
        `packaging: tree and .deb ${outcome} after ${Math.round((Date.now() - startedAt) / 1000)} s${addons ? ` (addons ${addons})` : ""}\n`,
      );
    await writeFile(`${resultFile}.tmp`, JSON.stringify(result));
    await rename(`${resultFile}.tmp`, resultFile);
  };
  /** Runs one packaging script at low priority (the other tiers' timing matters more); its stdout is its --json answer. */
  const step = async (script: string, args: string[]): Promise<string> => {
    if (stopping) throw new Error(`${script} not started: the run ended first`);
    const cmd = hasCommand("nice") ? ["nice", "-n", "10", join(PACKAGING, script)] : [join(PACKAGING, script)];
    // detached: its own process group, so teardown can stop npm, node-gyp and make with it.
    const child = spawn(cmd[0] as string, [...cmd.slice(1), ...args], {
      detached: true,
      env: { ...process.env, TMPDIR: work },
      stdio: ["ignore", "pipe", "pipe"],
    });
    current = child;
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, "close")) as [number | null];
    current = undefined;
    if (code !== 0) throw new Error(`${script} failed (${stopping ? "stopped at teardown" : code}):\n${stderr}`);
    return stdout;
  };
  const build = async (): Promise<void> => {
    const problem = packagingBuildProblem();
    if (problem) return finish({ ok: false, skipped: problem });
    try {
      const treeArgs = ["--out", join(work, "tree"), "--json", "--addons-from", join(REPO_ROOT, "node_modules")];
      const built = JSON.parse(await step("build-tree.sh", treeArgs)) as { tree: string; addons: string };
      addons = built.addons;
      const deb = JSON.parse(await step("build-deb.sh", ["--tree", built.tree, "--out", join(work, "deb"), "--json"]));
      await finish({ ok: true, tree: built.tree, deb });
    } catch (err) {
      await finish({ ok: false, error: err instanceof Error ? err.message : String(err) });
    }
  };
  const done = build();

  return async () => {
    stopping = true;
    if (current?.pid !== undefined && current.exitCode === null) {
      try {
        process.kill(-current.pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
    await done;
    await rm(work, { recursive: true, force: true });
  };
}
