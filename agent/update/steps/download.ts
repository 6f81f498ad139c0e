import { fetchBundle, fetchDelta } from "../artifacts.js";
import { DONE, deltaUnusable, requireRelease, type StepExecutor } from "./step.js";

/** downloading: brings the chosen delivery's artifact into downloads/ (nothing, when already staged). */
export const download: StepExecutor<"download"> = async ({ delivery }, ctx) => {
  const release = requireRelease(ctx);
  switch (delivery.kind) {
    case "staged":
      ctx.deps.logger.info({ version: release.version }, "version already staged; nothing to download");
      return DONE;
    case "delta":
      try {
        await fetchDelta(ctx, release, delivery.offer);
        return DONE;
      } catch (err) {
        return deltaUnusable(ctx, err);
      }
    case "bundle":
    case "sideload":
      await fetchBundle(ctx, release, delivery);
      return DONE;
  }
};
