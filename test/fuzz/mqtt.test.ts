import { describe, it } from "vitest";
import { runFuzz } from "./fuzz.js";
import { mqttTargets } from "./mqtt-targets.js";

describe("fuzz: mqtt parsers", () => {
  it.each(mqttTargets.map((t) => [t.name, t] as const))("%s", async (_name, target) => {
    await runFuzz(target);
  });
});
