import { describe, it } from "vitest";
import { deltaTargets } from "./delta-targets.js";
import { runFuzz } from "./fuzz.js";

describe("fuzz: delta parsers", () => {
  it.each(deltaTargets.map((t) => [t.name, t] as const))("%s", async (_name, target) => {
    await runFuzz(target);
  });
});
