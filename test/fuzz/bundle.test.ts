import { describe, it } from "vitest";
import { bundleTargets } from "./bundle-targets.js";
import { runFuzz } from "./fuzz.js";

describe("fuzz: bundle parsers", () => {
  it.each(bundleTargets.map((t) => [t.name, t] as const))("%s", async (_name, target) => {
    await runFuzz(target);
  });
});
