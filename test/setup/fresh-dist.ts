import { assertBuildFresh } from "../helpers/dist-freshness.js";

/**
 * globalSetup of the tiers that spawn the compiled programs (integration, e2e):
 * the run stops before any test when dist/ is older than the sources. Checking,
 * not building: a build here would race other runs using the same dist/.
 */
export default async function setup(): Promise<void> {
  await assertBuildFresh();
}
