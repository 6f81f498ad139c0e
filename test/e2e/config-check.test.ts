import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SchemaValidator } from "../helpers/json-schema.js";
import { AGENT_BIN, PUBLISH_BIN, runNode } from "../helpers/processes.js";

const schemas = new SchemaValidator();

// `edge-agent config check` as a technician (and the .deb's postinst) runs it: the built CLI, a real file.

const valid = {
  deviceId: "dev-1",
  dataDir: "data",
  name: "demo-model",
  channel: "stable",
  repository: "http://127.0.0.1:8080",
  trustedKeys: ["keys/publisher.pub"],
  service: { mode: "supervise", command: ["node", "server.js"] },
  health: { url: "http://127.0.0.1:9208/ready" },
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "edgepull-config-check-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function configFile(text: string): Promise<string> {
  const path = join(dir, "agent.json");
  await writeFile(path, text);
  return path;
}

const check = (path: string, ...extra: string[]) => runNode(AGENT_BIN, ["config", "check", "--config", path, ...extra]);

describe("edge-agent config check", () => {
  it("exits 0 for a valid config and starts nothing: no data folder, journal or socket appears", async () => {
    const path = await configFile(JSON.stringify(valid));
    const r = await check(path);
    expect(r, r.stderr).toMatchObject({ code: 0, stdout: `config ${path} is valid\n`, stderr: "" });
    expect(await readdir(dir)).toEqual(["agent.json"]);
    const j = await check(path, "--json");
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toEqual({ config: path, valid: true, problems: [] });
    expect(schemas.validate("agent-config-check.json", JSON.parse(j.stdout))).toEqual([]);
  });

  it("exits 2 and lists every problem, unknown keys in nested sections included", async () => {
    const path = await configFile(
      JSON.stringify({
        ...valid,
        deviceId: "",
        health: { url: "http://127.0.0.1:9208/ready", timeoutSecond: 5 },
        localEndpoint: { port: 70000 },
        maintenanceWindows: [{ days: ["sat"], start: "02:00", end: "04:00", until: "05:00" }],
      }),
    );
    const r = await check(path);
    expect(r.code).toBe(2);
    expect(r.stdout.split("\n")).toEqual([
      `config ${path} has 4 problem(s):`,
      "  deviceId must be a non-empty string",
      '  unknown key "health.timeoutSecond"',
      "  localEndpoint.port must be an integer from 0 to 65535",
      '  unknown key "maintenanceWindows[0].until"',
      "",
    ]);
    const j = await check(path, "--json");
    expect(j.code).toBe(2);
    expect(JSON.parse(j.stdout)).toMatchObject({
      valid: false,
      problems: expect.arrayContaining(['unknown key "health.timeoutSecond"']),
    });
    expect((JSON.parse(j.stdout) as { problems: string[] }).problems).toHaveLength(4);
  });

  it("names the line and column of a JSON syntax error", async () => {
    const path = await configFile('{\n  "deviceId": "dev-1",\n  "dataDir": "data"\n  "name": "x"\n}\n');
    const r = await check(path, "--json");
    expect(r.code).toBe(2);
    expect(schemas.validate("agent-config-check.json", JSON.parse(r.stdout))).toEqual([]);
    const problems = (JSON.parse(r.stdout) as { problems: string[] }).problems;
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^config ${path} is not valid JSON: line 4, column 3: `));
  });

  it("exits 2 for a file it cannot read, and refuses a stray subcommand or flag as usage errors", async () => {
    const missing = join(dir, "missing.json");
    const r = await check(missing);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain(`cannot read config ${missing}`);
    expect(await runNode(AGENT_BIN, ["config", "show", "--config", missing])).toMatchObject({ code: 2 });
    const flag = await runNode(AGENT_BIN, ["config", "check", "--limit", "3", "--config", missing]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/^edge-agent: USAGE: .*--limit.*\(see edge-agent config --help\)\n$/);
  });

  it("the daemon refuses the same config with the same problems (CONFIG_INVALID, exit 2)", async () => {
    const path = await configFile(JSON.stringify({ ...valid, service: { ...valid.service, stopTimeout: 5 } }));
    const r = await runNode(AGENT_BIN, ["status", "--config", path]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`edge-agent: CONFIG_INVALID: config ${path} has 1 problem(s): unknown key "service.stopTimeout"\n`);
  });
});

describe("one option-table pattern for both binaries", () => {
  it("a flag of another command is a usage error in each (exit 2), named with the command's help", async () => {
    const agent = await runNode(AGENT_BIN, ["status", "--reason", "x"]);
    expect(agent.code).toBe(2);
    expect(agent.stderr).toMatch(/^edge-agent: USAGE: .*--reason.*\(see edge-agent status --help\)\n$/);
    const publisher = await runNode(PUBLISH_BIN, ["serve", "--key", "x"]);
    expect(publisher.code).toBe(2);
    expect(publisher.stderr).toMatch(/^edge-publish: USAGE: .*--key.*\(see edge-publish serve --help\)\n$/);
  });
});
