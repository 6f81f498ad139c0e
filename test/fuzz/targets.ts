import { bundleTargets } from "./bundle-targets.js";
import { deltaTargets } from "./delta-targets.js";
import type { FuzzTarget } from "./fuzz.js";
import { metadataTargets } from "./metadata-targets.js";
import { mqttTargets } from "./mqtt-targets.js";

/** Every fuzz target by name, for the fixture replay. */
export const ALL_TARGETS: ReadonlyMap<string, FuzzTarget<unknown>> = new Map(
  [...metadataTargets, ...bundleTargets, ...deltaTargets, ...mqttTargets].map((t) => [t.name, t]),
);
