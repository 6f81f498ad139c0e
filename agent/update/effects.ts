import { rm } from "node:fs/promises";
import { readCurrentVersion } from "../install/activate.js";
import { sweepDownloads } from "../install/downloads-janitor.js";
import { versionDir } from "../install/layout.js";
import { pruneVersions } from "../install/prune.js";
import { cleanStaging } from "../install/staging.js";
import type { Effect } from "./attempt-machine.js";
import { commit } from "./steps/commit.js";
import type { StepContext } from "./steps/step.js";

type EffectContext = Omit<StepContext, "signal">;
type EffectHandlers = {
  readonly [K in Effect["type"]]: (effect: Extract<Effect, { type: K }>, ctx: EffectContext) => void | Promise<void>;
};

/** How each effect the transition asks for is done. */
const HANDLERS: EffectHandlers = {
  "phase-done": ({ phase }, ctx) => ctx.deps.ports.fault(`after:${phase}`),
  "record-error": ({ error }, ctx) => ctx.deps.ports.store.setError(ctx.attempt.id, error.code, error.message),
  "record-delta-fallback": ({ error }, ctx) => {
    const { ports, layout, logger } = ctx.deps;
    ports.store.setDeltaFallback(ctx.attempt.id, error.code, error.message);
    const release = ctx.attempt.release?.manifest;
    if (release) sweepDownloads(layout, { name: release.name, version: release.version }, logger);
  },
  "clean-staging": (_effect, ctx) => cleanStaging(ctx.deps.layout),
  "discard-version": async ({ version }, ctx) => {
    const { layout, ports, logger } = ctx.deps;
    // Never the version serving now or the one a rollback would return to (a channel moved back to it).
    if (version === (await readCurrentVersion(layout)) || version === ports.store.previousVersion()) return;
    // Forgotten first: a crash mid-delete leaves an unknown folder, which pruning removes.
    ports.store.removeVersion(version);
    await rm(versionDir(layout, version), { recursive: true, force: true });
    logger.info({ version }, "removed the staged version that failed validation");
  },
  finish: ({ result, rollbackError }, ctx) => ctx.deps.ports.store.finishAttempt(ctx.attempt.id, result, rollbackError),
  commit: async (_effect, ctx) => {
    commit(ctx);
    // Hand-over: the version left stayed running through probation for a switch back; now it drains and stops.
    await ctx.deps.ports.service.settle?.();
  },
  prune: async (_effect, ctx) => {
    const { layout, ports, config, logger } = ctx.deps;
    const active = await readCurrentVersion(layout);
    await pruneVersions(layout, ports.store, config.keepVersions, [active, ports.store.previousVersion()], logger).catch((err) =>
      logger.warn({ err }, "pruning old versions failed"),
    );
  },
  log: ({ level, fields, message }, ctx) => ctx.deps.logger[level](fields, message),
};

export async function runEffects(effects: readonly Effect[], ctx: EffectContext): Promise<void> {
  for (const effect of effects) {
    await (HANDLERS[effect.type] as (e: Effect, c: EffectContext) => void | Promise<void>)(effect, ctx);
  }
}
