import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGENT_CLI } from "../../agent/cli/spec.js";
import { PUBLISHER_CLI } from "../../publisher/cli-spec.js";
import { AGENT_BIN, PUBLISH_BIN, runNode } from "../helpers/processes.js";

/** The completion scripts the CLIs print, run in a real bash (and loaded in zsh when it is installed). */

let dir: string;
const scripts: Record<string, string> = {};
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "edgepull-completion-"));
  for (const [program, bin] of [
    ["edge-agent", AGENT_BIN],
    ["edge-publish", PUBLISH_BIN],
  ] as const) {
    for (const shell of ["bash", "zsh"]) {
      const run = await runNode(bin, ["completion", shell]);
      expect(run.code, run.stderr).toBe(0);
      const path = join(dir, `${program}.${shell}`);
      writeFileSync(path, run.stdout);
      scripts[`${program}.${shell}`] = path;
    }
  }
  writeFileSync(join(dir, "agent-config.json"), "{}");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What bash offers after `words` (the last one is the word being completed). */
function bashComplete(program: string, words: string[]): string[] {
  const fn = `_${program.replace(/-/g, "_")}`;
  const line = [program, ...words].map((w) => `'${w}'`).join(" ");
  const run = spawnSync(
    "bash",
    [
      "-c",
      `source "$1"; COMP_WORDS=(${line}); COMP_CWORD=${words.length}; ${fn}; printf '%s\\n' "\${COMPREPLY[@]}"`,
      "_",
      scripts[`${program}.bash`] as string,
    ],
    { cwd: dir, encoding: "utf8" },
  );
  expect(run.status, run.stderr).toBe(0);
  return run.stdout.split("\n").filter((w) => w !== "");
}

describe("shell completion", () => {
  it("offers every command the parser accepts, and only those with the prefix typed", () => {
    expect(bashComplete("edge-agent", [""])).toEqual(expect.arrayContaining(Object.keys(AGENT_CLI.commands)));
    expect(bashComplete("edge-publish", [""])).toEqual(expect.arrayContaining(Object.keys(PUBLISHER_CLI.commands)));
    expect(bashComplete("edge-agent", ["h"]).sort()).toEqual(["help", "history", "hold"]);
    expect(bashComplete("edge-publish", ["re"]).sort()).toEqual(["refresh", "releases"]);
  });

  it("offers a command's own options, not another command's", () => {
    expect(bashComplete("edge-agent", ["history", "--l"])).toEqual(["--limit"]);
    expect(bashComplete("edge-agent", ["status", "--l"])).toEqual([]);
    expect(bashComplete("edge-publish", ["rollout", "--ab"])).toEqual(["--abort"]);
    expect(bashComplete("edge-publish", ["build", "--gz"])).toEqual(["--gzip-level"]);
  });

  it("offers a command's fixed words, and file names after an option that takes a path", () => {
    expect(bashComplete("edge-agent", ["config", ""])).toEqual(["check"]);
    expect(bashComplete("edge-agent", ["completion", ""]).sort()).toEqual(["bash", "zsh"]);
    expect(bashComplete("edge-publish", ["keys", "r"])).toEqual(["rotate"]);
    expect(bashComplete("edge-agent", ["status", "--config", "agent-c"])).toEqual(["agent-config.json"]);
    expect(bashComplete("edge-agent", ["help", "roll"])).toEqual(["rollback"]);
  });

  it("refuses a shell it has no script for, with the usage exit code", async () => {
    const run = await runNode(AGENT_BIN, ["completion", "fish"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/USAGE: no completion for shell "fish": choose bash or zsh/);
  });

  const zsh = spawnSync("zsh", ["--version"]).status === 0;
  it.skipIf(!zsh)("registers with zsh's completion system (skipped without zsh)", () => {
    for (const program of ["edge-agent", "edge-publish"]) {
      const run = spawnSync(
        "zsh",
        [
          "-f",
          "-c",
          `autoload -U compinit && compinit -u -D && source "$1" && print -r -- $_comps[${program}]`,
          "_",
          scripts[`${program}.zsh`] as string,
        ],
        { encoding: "utf8", env: { ...process.env, HOME: dir } },
      );
      expect(run.stderr).toBe("");
      expect(run.stdout.trim()).toBe(`_${program.replace(/-/g, "_")}`);
    }
  });
});
