/**
 * The suite's tiers, each a folder of test/ and a vitest project of the same
 * name (vitest.config.ts). A test file anywhere else would run in no tier.
 */
export const TIERS = ["unit", "fuzz", "integration", "e2e", "packaging"] as const;
export type Tier = (typeof TIERS)[number];
