import { defineConfig } from "vitest/config";
import TierSequencer from "./test/setup/tier-sequencer.js";
import type { Tier } from "./test/tiers.js";

/**
 * The suite in tiers, one vitest project per folder of test/: a file belongs
 * to the tier its folder names, with no list to edit. `npm test` runs them all
 * (`vitest run`); `npm run test:<tier>` or `--project <tier>` runs one.
 *
 * - unit, fuzz: pure modules, in-process; need no build.
 * - integration: temp dirs, real SQLite, loopback HTTP, broker on port 0; some
 *   spawn the compiled CLIs.
 * - e2e: the compiled CLIs and the example service as child processes.
 *   integration and e2e refuse to start when dist/ is older than its sources.
 * - packaging: the .deb and install.sh. Its one build of the install tree
 *   starts in the background before the first test of any tier; its files are
 *   queued last (test/setup/tier-sequencer.ts), by when the build has had the
 *   other tiers' time, and run beside their last files.
 */
const tier = (name: Tier, extra: { globalSetup?: string[] } = {}) => ({
  extends: true as const,
  test: {
    name,
    include: [`test/${name}/**/*.test.ts`],
    globalSetup: extra.globalSetup ?? [],
  },
});

export default defineConfig({
  test: {
    reporters: ["default", "./test/helpers/summary-reporter.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // e2e tests spawn real agents and services; two cores are shared between them.
    pool: "forks",
    maxWorkers: 2,
    sequence: { sequencer: TierSequencer },
    projects: [
      tier("unit"),
      tier("fuzz"),
      tier("integration", { globalSetup: ["test/setup/fresh-dist.ts"] }),
      tier("e2e", { globalSetup: ["test/setup/fresh-dist.ts"] }),
      tier("packaging", { globalSetup: ["test/setup/packaging-build.ts"] }),
    ],
  },
});
