import { readdir } from "node:fs/promises";
import { join, sep } from "node:path";
import { describe, expect, it } from "vitest";
import { TIERS } from "../tiers.js";

const TEST_ROOT = join(import.meta.dirname, "..");

describe("test layout", () => {
  it("every test file lies in a tier's folder, so some tier runs it", async () => {
    const files = (await readdir(TEST_ROOT, { recursive: true })).filter((f) => f.endsWith(".test.ts"));
    const outside = files.filter((f) => !(TIERS as readonly string[]).includes(f.split(sep)[0] ?? ""));
    expect(files.length).toBeGreaterThan(0);
    expect(outside).toEqual([]);
  });
});
