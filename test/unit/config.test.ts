import { describe, expect, it } from "vitest";
import { parseConfig } from "../../agent/config.js";

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

describe("agent config", () => {
  it("applies defaults and resolves relative paths against the config folder", () => {
    const c = parseConfig(valid, "/etc/edgepull/agent.json");
    expect(c.dataDir).toBe("/etc/edgepull/data");
    expect(c.trustedKeys).toEqual(["/etc/edgepull/keys/publisher.pub"]);
    expect(c.service.cwd).toBe("/etc/edgepull");
    expect(c.pollIntervalSeconds).toBe(300);
    expect(c.health.timeoutSeconds).toBe(60);
    expect(c.health.watchIntervalSeconds).toBe(10);
    expect(c.keepVersions).toBe(3);
  });

  it("lists every error at once", () => {
    const bad = {
      ...valid,
      deviceId: "",
      repository: "ftp://x",
      pollIntervalSeconds: -1,
      service: { mode: "magic", command: [] },
      health: { url: "nope", timeoutSeconds: "60" },
      extra: true,
    };
    let message = "";
    try {
      parseConfig(bad, "/x/agent.json");
    } catch (err) {
      expect((err as { code: string }).code).toBe("CONFIG_INVALID");
      message = (err as Error).message;
    }
    for (const fragment of [
      "deviceId",
      "repository",
      "pollIntervalSeconds",
      "service.mode",
      "service.command",
      "health.url",
      "health.timeoutSeconds",
      'unknown key "extra"',
    ]) {
      expect(message).toContain(fragment);
    }
    expect(message).toMatch(/has 8 problem/);
  });
});
