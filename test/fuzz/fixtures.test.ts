import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeInput, FIXTURE_DIR } from "./fuzz.js";
import { ALL_TARGETS } from "./targets.js";

/** Every input a fuzz run once found failing, replayed against the target that found it. */
const fixtures = (await readdir(FIXTURE_DIR)).filter((n) => n.endsWith(".json")).sort();

describe("fuzz fixtures replay", () => {
  it.each(fixtures)("%s", async (file) => {
    const { target, input } = JSON.parse(await readFile(join(FIXTURE_DIR, file), "utf8")) as { target: string; input: unknown };
    const found = ALL_TARGETS.get(target);
    expect(found, `no fuzz target named ${target}`).toBeDefined();
    await found?.check(decodeInput(input));
  });
});
