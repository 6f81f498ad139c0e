import { describe, it } from "vitest";
import { runFuzz } from "./fuzz.js";
import { metadataTargets } from "./metadata-targets.js";

describe("fuzz: metadata parsers", () => {
  it.each(metadataTargets.map((t) => [t.name, t] as const))("%s", async (_name, target) => {
    await runFuzz(target);
  });
});
