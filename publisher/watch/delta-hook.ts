import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import semver from "semver";
import type { ReleaseManifest } from "../../shared/manifest.js";
import { makeDeltas } from "../commands/delta.js";
import { readChannelPointer } from "../repo-files.js";

/** What a delta step gets once a version is built and before its channel moves. */
export interface DeltaHookContext {
  name: string;
  version: string;
  repoDir: string;
  modelDir: string;
  keyPath: string;
  channel: string;
  release: ReleaseManifest;
  logger: Logger;
}

/**
 * Builds deltas from earlier releases to the one just built. Runs before the
 * channel is published, so the deltas are in the release before devices hear
 * of it. A failure here does not stop the publish: devices take the bundle.
 */
export type DeltaHook = (ctx: DeltaHookContext) => Promise<void>;

/** By default, deltas from the releases devices most likely run: the channel's and the two newest below. */
export const DEFAULT_DELTA_BASES = 2;

/**
 * The bases for a new version: what the channel points at now (most of the
 * fleet runs it) and the `newest` highest built versions below the new one
 * (devices a release or two behind), without repeats.
 */
export async function deltaBases(ctx: DeltaHookContext, newest: number): Promise<string[]> {
  const built = await builtVersions(ctx.repoDir, ctx.name);
  const below = built.filter((v) => semver.lt(v, ctx.version)).sort(semver.rcompare);
  const bases = below.slice(0, newest);
  const channel = (await readChannelPointer(ctx.repoDir, ctx.name, ctx.channel))?.value.version;
  if (channel && channel !== ctx.version && built.includes(channel) && !bases.includes(channel)) bases.unshift(channel);
  return bases;
}

async function builtVersions(repoDir: string, name: string): Promise<string[]> {
  const entries = await readdir(join(repoDir, "releases", name)).catch(() => [] as string[]);
  return entries.filter((v) => semver.valid(v) === v);
}

/** The watch's delta step: deltas from up to `newest` + 1 earlier releases (0 turns deltas off). */
export function deltasFromPrevious(newest: number = DEFAULT_DELTA_BASES): DeltaHook {
  return async (ctx) => {
    if (newest <= 0) return;
    const from = await deltaBases(ctx, newest);
    if (from.length === 0) {
      ctx.logger.info({ version: ctx.version }, "no earlier release to make a delta from");
      return;
    }
    const started = Date.now();
    const r = await makeDeltas({
      repoDir: ctx.repoDir,
      name: ctx.name,
      from,
      to: ctx.version,
      keyPath: ctx.keyPath,
      targetModelDir: ctx.modelDir,
      logger: ctx.logger,
    });
    ctx.logger.info(
      {
        version: ctx.version,
        deltas: r.deltas.map((d) => ({ from: d.from, offered: d.offered, bytes: d.size, bundleBytes: d.bundleSize })),
        ms: Date.now() - started,
      },
      "deltas built",
    );
  };
}
