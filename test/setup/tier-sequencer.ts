import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * vitest's own order (longest first from the last run's timings, larger
 * files first without them), with the packaging tier's files moved to the end
 * of the one queue: they wait for the background build (packaging-build.ts),
 * so they start only when the queue runs dry, beside the other tiers' last
 * files instead of after them (a separate group ran them alone, one worker
 * idle, for about 30 s).
 */
export default class TierSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const last = (f: TestSpecification): number => (f.project.name === "packaging" ? 1 : 0);
    return sorted
      .map((f, i) => ({ f, i }))
      .sort((a, b) => last(a.f) - last(b.f) || a.i - b.i)
      .map(({ f }) => f);
  }
}
