import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keygen } from "../../publisher/commands/keygen.js";
import { SchemaValidator } from "../helpers/json-schema.js";
import { AGENT_BIN, PUBLISH_BIN, type RunResult, runNode } from "../helpers/processes.js";

const schemas = new SchemaValidator();
let root: string;
let config: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-cli-errors-"));
  config = join(root, "agent.json");
  const keys = await keygen({ outDir: join(root, "keys") });
  // A valid config for a device that has never run: no journal, no version, nothing listening.
  await writeFile(
    config,
    JSON.stringify({
      deviceId: "dev-errors",
      name: "demo-model",
      channel: "stable",
      repository: "http://127.0.0.1:9/",
      dataDir: join(root, "data"),
      trustedKeys: [keys.publicKeyPath],
      service: { mode: "command", command: ["true"] },
      health: { url: "http://127.0.0.1:9/ready", timeoutSeconds: 1 },
    }),
  );
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const agent = (...args: string[]): Promise<RunResult> => runNode(AGENT_BIN, args);

/** A failure as both binaries print it: exactly one line on stderr, and with --json exactly the error object on stdout. */
function expectFailure(r: RunResult, program: string, code: string, exit: number, json: boolean): string {
  expect(r.code, r.stdout + r.stderr).toBe(exit);
  expect(r.stderr).toMatch(new RegExp(`^${program}: ${code}: [^\\n]+\\n$`));
  if (!json) {
    expect(r.stdout).toBe("");
  } else {
    const lines = r.stdout.split("\n");
    expect(lines.length, r.stdout).toBe(2);
    const value = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    expect(schemas.validate("error.json", value)).toEqual([]);
    expect(value.error.code).toBe(code);
    expect(r.stderr).toBe(`${program}: ${code}: ${value.error.message}\n`);
  }
  return r.stderr;
}

describe("edge-agent failures with --json: the error object and nothing else on stdout", () => {
  it.each([
    ["status", ["status", "--frob"], "USAGE", 2],
    ["history", ["history", "--limit", "abc"], "USAGE", 2],
    ["verify", ["verify"], "VERIFY_FAILED", 1],
    ["check", ["check"], "HTTP_ERROR", 1],
    ["rollback", ["rollback"], "NO_PREVIOUS_VERSION", 1],
    ["install", ["install", "/nonexistent/bundle.tar.gz"], "USAGE", 2],
    ["allow", ["allow"], "USAGE", 2],
    ["hold", ["hold", "extra"], "USAGE", 2],
    ["release-hold", ["release-hold", "--reason", "x"], "USAGE", 2],
    ["config check", ["config", "frob"], "USAGE", 2],
    ["completion", ["completion", "fish"], "USAGE", 2],
    ["run", ["run", "--limit", "1"], "USAGE", 2],
  ])("%s", async (_what, args, code, exit) => {
    expectFailure(await agent(...args, "--config", config, "--json"), "edge-agent", code, exit, true);
  });

  it("an unreadable config is CONFIG_INVALID, the same way", async () => {
    expectFailure(await agent("status", "--config", join(root, "nope.json"), "--json"), "edge-agent", "CONFIG_INVALID", 2, true);
  });
});

describe("argument errors are the project's own one-line USAGE errors", () => {
  it.each([
    [["status", "--frob"], "status has no option --frob (see edge-agent status --help)"],
    [["status", "-x"], "status has no option -x (see edge-agent status --help)"],
    [["history", "--limit"], "--limit needs a value (see edge-agent history --help)"],
    [["history", "--limit", "--json"], "--limit needs a value (see edge-agent history --help)"],
    [["history", "--limit", "abc"], '--limit must be an integer from 1 to 1000000 (found "abc")'],
    [["history", "--limit", "-3"], '--limit must be an integer from 1 to 1000000 (found "-3")'],
    [["history", "--limit=0"], '--limit must be an integer from 1 to 1000000 (found "0")'],
    [["history", "--limit", "2.5"], '--limit must be an integer from 1 to 1000000 (found "2.5")'],
    [["status", "--json=yes"], '--json takes no value (found "yes") (see edge-agent status --help)'],
    [["status", "extra"], 'status takes no arguments (found "extra") (see edge-agent status --help)'],
  ])("edge-agent %j", async (args, message) => {
    // The config is not even read: a usage error comes first.
    const r = await agent(...args, "--config", join(root, "nope.json"));
    expect(expectFailure(r, "edge-agent", "USAGE", 2, args.includes("--json"))).toBe(`edge-agent: USAGE: ${message}\n`);
  });

  it.each([
    [["keygen", "--frob"], "keygen has no option --frob (see edge-publish keygen --help)"],
    [["keygen", "--out"], "--out needs a value (see edge-publish keygen --help)"],
    [["serve", "extra"], 'serve takes no arguments (found "extra") (see edge-publish serve --help)'],
  ])("edge-publish %j", async (args, message) => {
    const r = await runNode(PUBLISH_BIN, args);
    expect(expectFailure(r, "edge-publish", "USAGE", 2, false)).toBe(`edge-publish: USAGE: ${message}\n`);
  });

  it("edge-publish build --arch sparc is refused, naming the option, before anything is built", async () => {
    const repo = join(root, "repo");
    const r = await runNode(PUBLISH_BIN, [
      "build",
      join(root, "no-model"),
      ...["--name", "demo", "--version", "1.0.0", "--repo", repo, "--key", join(root, "none.key")],
      ...["--arch", "arm64,sparc", "--json"],
    ]);
    expect(expectFailure(r, "edge-publish", "USAGE", 2, true)).toMatch(
      /^edge-publish: USAGE: --arch: "sparc" is not an architecture/,
    );
  });
});
