import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AGENT_CLI } from "../../agent/cli/spec.js";
import { EdgeError } from "../../shared/errors.js";
import { EXIT, exitCodeFor } from "../../shared/exit-codes.js";

const README = join(import.meta.dirname, "..", "..", "README.md");

async function exitSection(): Promise<string> {
  const text = await readFile(README, "utf8");
  return text.split(/^### Exit codes$/m)[1]?.split(/^##/m)[0] ?? "";
}

/** Every exit code a cell names: "0 ok, 1 failed, 2" gives [0, 1, 2]. */
function codesIn(cell: string): number[] {
  return [...cell.matchAll(/(?:^|, )(\d+)\b/g)].map((m) => Number(m[1]));
}

describe("the README's exit codes", () => {
  it("the code table lists exactly shared/exit-codes.ts, in order", async () => {
    const codes = [...(await exitSection()).matchAll(/^\| (\d+) +\|/gm)].map((m) => Number(m[1]));
    expect(codes).toEqual(Object.values(EXIT));
  });

  it("the per-command table names every edge-agent command once, with only codes the table defines", async () => {
    const rows = [...(await exitSection()).matchAll(/^\| `([a-z-]+)` \| (.+) \|$/gm)].map((m) => ({
      command: m[1] as string,
      codes: codesIn(m[2] as string),
    }));
    expect(rows.map((r) => r.command).sort()).toEqual(Object.keys(AGENT_CLI.commands).sort());
    const known: number[] = Object.values(EXIT);
    for (const row of rows) {
      expect(row.codes.length, row.command).toBeGreaterThan(0);
      expect(
        row.codes.filter((c) => !known.includes(c)),
        row.command,
      ).toEqual([]);
      // Every command refuses bad arguments with 2 before doing anything.
      expect(row.codes, row.command).toContain(EXIT.USAGE);
    }
    // Only the commands that take the device lock can find it taken.
    expect(
      rows
        .filter((r) => r.codes.includes(EXIT.BUSY))
        .map((r) => r.command)
        .sort(),
    ).toEqual(["check", "install", "rollback", "run"]);
  });

  it("errors map to the codes the table gives them", () => {
    expect(exitCodeFor(new EdgeError("USAGE", "x"))).toBe(EXIT.USAGE);
    expect(exitCodeFor(new EdgeError("CONFIG_INVALID", "x"))).toBe(EXIT.USAGE);
    expect(exitCodeFor(new EdgeError("AGENT_BUSY", "x"))).toBe(EXIT.BUSY);
    expect(exitCodeFor(new EdgeError("INTERNAL", "x"))).toBe(EXIT.FAILED);
  });
});
