import { readFile } from "node:fs/promises";
import { inject } from "vitest";
import { waitFor } from "../helpers/processes.js";
import type { PackagingBuild } from "./packaging-root.js";

/**
 * Waits for the run's one build (started before the first test of any tier,
 * removed after the last) and returns its tree and .deb, to read and install
 * from, never to change; throws with the build's own output when it failed.
 */
export async function sharedPackagingBuild(): Promise<{ tree: string; deb: { deb: string; sizeBytes: number } }> {
  const { resultFile } = inject("packagingBuild");
  const text = await waitFor(
    "the packaging build (build-tree.sh, build-deb.sh)",
    () => readFile(resultFile, "utf8"),
    9 * 60_000,
    200,
  );
  const result = JSON.parse(text) as PackagingBuild;
  if (!result.ok) throw new Error("skipped" in result ? `packaging build skipped: ${result.skipped}` : result.error);
  return { tree: result.tree, deb: result.deb };
}
