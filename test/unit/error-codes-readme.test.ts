import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../shared/errors.js";

const README = join(import.meta.dirname, "..", "..", "README.md");

/** The codes in the first column of the README's "Error codes" table, in order. */
async function readmeCodes(): Promise<string[]> {
  const text = await readFile(README, "utf8");
  const section = text.split(/^## Error codes$/m)[1]?.split(/^## /m)[0] ?? "";
  return [...section.matchAll(/^\| `([A-Z_]+)` /gm)].map((match) => match[1]!);
}

describe("error codes", () => {
  it("the README's table lists every code of the union (deny-list codes included), in its order, and no other", async () => {
    expect(await readmeCodes()).toEqual([...ERROR_CODES]);
  });
});
