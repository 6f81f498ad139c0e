import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { AGENT_CONFIG_SCHEMA } from "../../agent/config/schema.js";
import { configTableRows, renderConfigTable, TABLE_END, TABLE_START } from "../../agent/config/table.js";
import { jsonSyntaxProblem, parseConfig } from "../../agent/config.js";

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
const window = { days: ["sat"], start: "02:00", end: "04:00" };

function problemsOf(raw: unknown): string {
  try {
    parseConfig(raw, "/x/agent.json");
  } catch (err) {
    expect((err as { code: string }).code).toBe("CONFIG_INVALID");
    return (err as Error).message;
  }
  throw new Error("the config was accepted");
}

describe("config schema: unknown keys", () => {
  // A typo under any section used to be ignored, leaving the default in force without a word.
  it.each([
    ["health", { ...valid, health: { ...valid.health, timeoutSecond: 30 } }, "health.timeoutSecond"],
    ["service", { ...valid, service: { ...valid.service, stopTimeout: 5 } }, "service.stopTimeout"],
    ["download", { ...valid, download: { retry: 3 } }, "download.retry"],
    ["delta", { ...valid, delta: { enable: false } }, "delta.enable"],
    ["localEndpoint", { ...valid, localEndpoint: { port: 0, adress: "0.0.0.0" } }, "localEndpoint.adress"],
    ["mqtt", { ...valid, mqtt: { url: "mqtt://127.0.0.1:1883", user: "x" } }, "mqtt.user"],
    [
      "a maintenance window",
      { ...valid, maintenanceWindows: [window, { ...window, stop: "05:00" }] },
      "maintenanceWindows[1].stop",
    ],
    ["the top level", { ...valid, pollInterval: 60 }, "pollInterval"],
  ])("refuses an unknown key under %s", (_where, raw, key) => {
    const message = problemsOf(raw);
    expect(message).toContain(`unknown key "${key}"`);
    expect(message).toMatch(/has 1 problem/);
  });

  it("lists unknown keys of every section in one message", () => {
    const message = problemsOf({
      ...valid,
      health: { ...valid.health, timeoutSecond: 30 },
      service: { ...valid.service, cmd: [] },
      localEndpoint: { prot: 1 },
      maintenanceWindows: [{ ...window, day: "sun" }],
    });
    for (const key of ["health.timeoutSecond", "service.cmd", "localEndpoint.prot", "maintenanceWindows[0].day"]) {
      expect(message).toContain(`unknown key "${key}"`);
    }
    expect(message).toMatch(/has 4 problem/);
  });

  it("still accepts the editors' $schema and a comment at the top, and any name in service.env", () => {
    const c = parseConfig(
      { ...valid, $schema: "./agent.schema.json", comment: "lab bench", service: { ...valid.service, env: { ANY_NAME: "" } } },
      "/x/agent.json",
    );
    expect(c.service.env).toEqual({ ANY_NAME: "" });
  });
});

describe("config schema: defaults", () => {
  it("supplies every default of a section left out, and of a section given in part", () => {
    const c = parseConfig({ ...valid, mqtt: { url: "mqtt://127.0.0.1:1883" }, localEndpoint: {} }, "/x/agent.json");
    expect(c.mqtt).toMatchObject({ statusMinIntervalSeconds: 5, statusHeartbeatSeconds: 600, pushJitterSeconds: 30 });
    expect(c.localEndpoint).toEqual({ host: "127.0.0.1", port: 9210 });
    expect(c.download).toEqual({ retries: 6, idleTimeoutSeconds: 30, maxFolderMiB: 8192, allowedOrigins: [] });
    expect(c.delta).toEqual({ enabled: true, minFreeMemoryMiB: 128 });
    expect(c.service).toMatchObject({ cwd: "/x", env: {}, stopTimeoutSeconds: 10, restartTimeoutSeconds: 60 });
    expect(c.health).toMatchObject({ probationSeconds: 10, intervalMs: 250, rollbackTimeoutSeconds: 120 });
    expect(c).toMatchObject({ labels: [], hold: false, maintenanceWindows: [], logLevel: "info", arch: process.arch });
    expect(c.inbox).toBeUndefined();
    expect(parseConfig(valid, "/x/agent.json").mqtt).toBeUndefined();
  });

  it("refuses a section that is not an object, and a window that is not one", () => {
    const message = problemsOf({ ...valid, download: [], maintenanceWindows: ["sat 02:00-04:00"] });
    expect(message).toContain("download must be an object");
    expect(message).toContain("maintenanceWindows[0] must be an object");
    expect(message).toMatch(/has 2 problem/);
  });
});

describe("config schema: the README's table", () => {
  it("is the table rendered from the schema (npm run docs:config rewrites it)", async () => {
    const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
    const start = readme.indexOf(TABLE_START);
    const end = readme.indexOf(TABLE_END);
    expect(start, "README.md lacks the config-table markers").toBeGreaterThan(0);
    expect(readme.slice(start + TABLE_START.length, end).trim()).toBe(renderConfigTable(AGENT_CONFIG_SCHEMA));
  });

  it("has a row with a meaning for every key the parser accepts", () => {
    const parsed = parseConfig({ ...valid, mqtt: { url: "mqtt://h:1883" }, localEndpoint: {} }, "/x/agent.json");
    const keys = new Set(configTableRows(AGENT_CONFIG_SCHEMA).map((row) => row[0]));
    const paths = (value: object, prefix: string): string[] =>
      Object.entries(value).flatMap(([k, v]) =>
        typeof v === "object" && v !== null && !Array.isArray(v) && k !== "env" ? paths(v, `${prefix}${k}.`) : [`${prefix}${k}`],
      );
    for (const key of paths(parsed, "").filter((k) => k !== "configPath")) expect(keys).toContain(`\`${key}\``);
    for (const row of configTableRows(AGENT_CONFIG_SCHEMA)) expect(row[3], `${row[0]} has no meaning`).not.toBe("");
  });
});

describe("config file syntax", () => {
  const problem = (text: string): string => {
    try {
      JSON.parse(text);
    } catch (err) {
      return jsonSyntaxProblem(text, err as Error);
    }
    throw new Error("the text parsed");
  };

  it.each([
    // V8 names no position for an unexpected token: the line and column are found all the same.
    ['{\n  "deviceId": dev-1\n}', "line 2, column 15: Unexpected token 'd'"],
    ['{\n  "a": 1\n  "b": 2\n}', "line 3, column 3: Expected ',' or '}' after property value"],
    ['{\n  "a": [1, 2,]\n}', "line 2, column 14: Unexpected token ']'"],
    ['{"a": 1,', "line 1, column 9: Expected double-quoted property name"],
    ["", "line 1, column 1: Unexpected end of JSON input"],
  ])("%j: %s", (text, expected) => {
    expect(problem(text)).toBe(expected);
  });
});
