import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildRelease } from "../publisher/commands/build.js";
import { keygen } from "../publisher/commands/keygen.js";
import { hashModelFiles, walkModelDir } from "../publisher/model-dir.js";
import type { PayloadFile } from "../shared/manifest.js";
import { writeWholeFileBsdiff } from "./bsdiff-whole-file.js";
import { type BenchResult, hasCommand, sh } from "./common.js";
import { PAIR_KINDS, type PairKind, writeBaseModel, writeTargetModel } from "./delta-models.js";
import { type DeltaRow, deltaResult, type PeerRun } from "./delta-report.js";
import { type Measured, runMeasured } from "./measured-process.js";

export interface DeltaBenchOptions {
  sizesMiB: number[];
  kinds?: readonly PairKind[];
  /** Leaves xdelta3 out on models over 64 MiB (it takes minutes there). */
  skipSlow?: boolean;
  /** xdelta3 is killed after this long on one diff. */
  xdeltaCapSeconds?: number;
  /** One line per step. */
  step?: (text: string) => void;
}

const CHILD = join(import.meta.dirname, "delta-child.js");

/**
 * Our delta against the full bundle and the generic delta tools, on generated
 * safetensors model pairs: size, publisher time and memory, device time and
 * peak memory. The peers see each version as one uncompressed tar of the model
 * folder, the nearest they come to a folder; ours sees the folder.
 */
export async function benchDelta(opts: DeltaBenchOptions): Promise<BenchResult> {
  const step = opts.step ?? (() => undefined);
  const kinds = opts.kinds ?? PAIR_KINDS;
  const tools = {
    zstd: await hasCommand("zstd"),
    xdelta3: await hasCommand("xdelta3"),
    bspatch: (await hasCommand("bspatch")) && (await hasCommand("bzip2")),
  };
  const notes: string[] = [];
  for (const [tool, present] of Object.entries(tools))
    if (!present) notes.push(`${tool === "bspatch" ? "bspatch or bzip2" : tool} is not installed: its columns are skipped`);
  const root = await mkdtemp(join(tmpdir(), "edgepull-bench-delta-"));
  const rssFile = join(root, "time.out");
  const rows: DeltaRow[] = [];
  try {
    const bareNode = await runMeasured(process.execPath, ["-e", "0"], { rssFile });
    const keys = await keygen({ outDir: join(root, "keys") });
    for (const sizeMiB of opts.sizesMiB) {
      const dir = join(root, `${sizeMiB}`);
      await mkdir(dir);
      const base = await prepare(dir, "base", (d) => writeBaseModel(d, sizeMiB));
      step(`${sizeMiB} MiB: base model written`);
      for (const [index, kind] of kinds.entries()) {
        const label = `${sizeMiB} MiB ${kind}`;
        const target = await prepare(dir, kind, (d) => writeTargetModel(kind, base.dir, d, sizeMiB));
        const work = join(dir, `${kind}-work`);
        await mkdir(work);
        step(`${label}: bundle`);
        const built = await buildRelease({
          modelDir: target.dir,
          name: "bench",
          version: `1.0.${index}`,
          repoDir: join(work, "repo"),
          keyPath: keys.privateKeyPath,
        });
        const bundleBytes = built.release.bundle.size;
        await rm(join(work, "repo"), { recursive: true, force: true });

        step(`${label}: ours, diff`);
        const deltaPath = join(work, "ours.epdelta");
        const buildArgs = {
          baseDir: base.dir,
          targetDir: target.dir,
          baseFiles: base.files,
          targetFiles: target.files,
          outPath: deltaPath,
          tempDir: work,
        };
        const ourDiff = await child("build", buildArgs, work, rssFile);
        const ourBytes = (await stat(deltaPath)).size;
        step(`${label}: ours, apply`);
        const applyArgs = {
          deltaPath,
          baseDir: base.dir,
          destDir: join(work, "ours-out"),
          expectedFiles: target.files,
          tempDir: work,
        };
        const ourApply = await child("apply", applyArgs, work, rssFile);
        const ops = (ourDiff.result as { perFile: { path: string; op: string }[] }).perFile
          .map((f) => `${f.path}:${f.op}`)
          .join(" ");

        const peers: Record<string, PeerRun | string> = {};
        const window = Math.max(10, Math.ceil(Math.log2(Math.max(base.tarBytes, target.tarBytes))));
        if (tools.zstd) {
          step(`${label}: zstd --patch-from --long=${window}`);
          peers.zstd = await peer(
            {
              diff: ["zstd", ["-q", "-f", "-3", `--long=${window}`, `--patch-from=${base.tar}`, target.tar, "-o", "PATCH"]],
              apply: ["zstd", ["-q", "-f", "-d", `--long=${window}`, `--patch-from=${base.tar}`, "PATCH", "-o", "OUT"]],
            },
            { work, name: "zstd", expected: target.tar, rssFile },
          );
        }
        if (tools.xdelta3 && !(opts.skipSlow && sizeMiB > 64)) {
          step(`${label}: xdelta3 -e -s (may take minutes)`);
          peers.xdelta3 = await peer(
            {
              diff: ["xdelta3", ["-e", "-f", "-s", base.tar, target.tar, "PATCH"]],
              apply: ["xdelta3", ["-d", "-f", "-s", base.tar, "PATCH", "OUT"]],
            },
            { work, name: "xdelta3", expected: target.tar, rssFile, capMs: (opts.xdeltaCapSeconds ?? 900) * 1000 },
          );
        } else if (tools.xdelta3) peers.xdelta3 = "skipped (--skip-slow)";
        if (tools.bspatch) {
          step(`${label}: whole-file BSDIFF40 patch, then bspatch`);
          const made = performance.now();
          await writeWholeFileBsdiff(base.tar, target.tar, join(work, "bspatch.patch"));
          const madeMs = performance.now() - made;
          const run = await runMeasured("bspatch", [base.tar, join(work, "bspatch.out"), join(work, "bspatch.patch")], {
            rssFile,
          });
          peers.bspatch = {
            bytes: (await stat(join(work, "bspatch.patch"))).size,
            diff: { code: 0, ms: madeMs, timedOut: false, stdout: "", stderr: "" },
            apply: await verified(run, join(work, "bspatch.out"), target.tar, "bspatch"),
          };
        }
        rows.push({
          sizeMiB,
          kind,
          newBytes: target.files.reduce((n, f) => n + f.size, 0),
          tarBytes: target.tarBytes,
          bundleBytes,
          ours: { bytes: ourBytes, diff: ourDiff.measured, apply: ourApply.measured, ops },
          peers,
        });
        await rm(work, { recursive: true, force: true });
        await rm(target.dir, { recursive: true, force: true });
        await rm(target.tar, { force: true });
      }
      await rm(dir, { recursive: true, force: true });
    }
    return deltaResult(rows, { notes, bareNodeRssKiB: bareNode.maxRssKiB, xdeltaCapSeconds: opts.xdeltaCapSeconds ?? 900 });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

interface Version {
  dir: string;
  tar: string;
  tarBytes: number;
  files: PayloadFile[];
}

/** A model folder, its payload list as the publisher hashes it, and a plain tar of it for the peers. */
async function prepare(parent: string, name: string, write: (dir: string) => Promise<void>): Promise<Version> {
  const dir = join(parent, name);
  await write(dir);
  const tar = join(parent, `${name}.tar`);
  const packed = await sh(`tar cf '${tar}' --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C '${dir}' .`);
  if (packed.code !== 0) throw new Error(`tar of ${dir} failed: ${packed.stderr}`);
  const files = await hashModelFiles(await walkModelDir(dir));
  return { dir, tar, tarBytes: (await stat(tar)).size, files };
}

async function child(
  mode: "build" | "apply",
  args: object,
  work: string,
  rssFile: string,
): Promise<{ measured: Measured; result: unknown }> {
  const argsPath = join(work, `${mode}.json`);
  await writeFile(argsPath, JSON.stringify(args));
  const measured = await runMeasured(process.execPath, [CHILD, mode, argsPath], { rssFile });
  if (measured.code !== 0) throw new Error(`delta ${mode} failed (exit ${measured.code}): ${measured.stderr.slice(-2000)}`);
  const reported = JSON.parse(measured.stdout.trim().split("\n").at(-1) ?? "{}") as { result: unknown; maxRssKiB: number };
  // The child's own ru_maxrss: the same figure GNU time gives, and present without it.
  return { measured: { ...measured, maxRssKiB: reported.maxRssKiB }, result: reported.result };
}

type Command = [string, string[]];

/** A peer's diff (killed past capMs) and, when it finished, its apply, whose output must equal the target. */
async function peer(
  commands: { diff: Command; apply: Command },
  ctx: { work: string; name: string; expected: string; rssFile: string; capMs?: number },
): Promise<PeerRun | string> {
  const patch = join(ctx.work, `${ctx.name}.patch`);
  const out = join(ctx.work, `${ctx.name}.out`);
  const fill = (args: string[]) => args.map((a) => (a === "PATCH" ? patch : a === "OUT" ? out : a));
  const diff = await runMeasured(commands.diff[0], fill(commands.diff[1]), {
    rssFile: ctx.rssFile,
    ...(ctx.capMs ? { timeoutMs: ctx.capMs } : {}),
  });
  if (diff.timedOut) return `stopped after ${Math.round((ctx.capMs ?? 0) / 1000)} s (cap)`;
  if (diff.code !== 0) throw new Error(`${ctx.name} diff failed (exit ${diff.code}): ${diff.stderr.slice(-2000)}`);
  const bytes = (await stat(patch)).size;
  const apply = await runMeasured(commands.apply[0], fill(commands.apply[1]), { rssFile: ctx.rssFile });
  return { bytes, diff, apply: await verified(apply, out, ctx.expected, ctx.name) };
}

async function verified(run: Measured, out: string, expected: string, name: string): Promise<Measured> {
  if (run.code !== 0) throw new Error(`${name} apply failed (exit ${run.code}): ${run.stderr.slice(-2000)}`);
  const same = await sh(`cmp -s '${out}' '${expected}'`);
  if (same.code !== 0) throw new Error(`${name} apply rebuilt a file that differs from the target`);
  return run;
}
