import { assertBuildFresh } from "./dist-freshness.js";

/**
 * Makes sure dist/ (edge-publish among it) is at least as new as its sources,
 * and throws naming the stale sources otherwise. No rebuild from here: other
 * test files may be spawning compiled programs, and rewriting dist/ under them
 * could hand them a half-written file. The integration and e2e tiers check the
 * same before their first test.
 */
export async function ensurePublisherBuilt(): Promise<void> {
  await assertBuildFresh();
}
