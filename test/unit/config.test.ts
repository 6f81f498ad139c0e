import { describe, expect, it } from "vitest";
import { parseConfig } from "../../agent/config.js";
import type { ShadowOptions } from "../../agent/proxy/shadow/shadow-run.js";

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

/** The CONFIG_INVALID message for a config that must be refused. */
function configProblems(raw: unknown): string {
  try {
    parseConfig(raw, "/x/agent.json");
  } catch (err) {
    expect((err as { code: string }).code).toBe("CONFIG_INVALID");
    return (err as Error).message;
  }
  throw new Error("the config was accepted");
}

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
    const message = configProblems(bad);
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

  it("bounds the downloads folder: download.maxFolderMiB defaults to 8192 and must be a whole number of MiB from 1", () => {
    expect(parseConfig(valid, "/x/agent.json").download.maxFolderMiB).toBe(8192);
    expect(parseConfig({ ...valid, download: { maxFolderMiB: 512 } }, "/x/agent.json").download.maxFolderMiB).toBe(512);
    for (const bad of [0, -1, 1.5, "512"]) {
      expect(() => parseConfig({ ...valid, download: { maxFolderMiB: bad } }, "/x/agent.json")).toThrow(
        /download\.maxFolderMiB must be an integer from 1 to/,
      );
    }
  });

  it("takes download.allowedOrigins as normalised origins, empty by default", () => {
    expect(parseConfig(valid, "/x/agent.json").download.allowedOrigins).toEqual([]);
    const c = parseConfig(
      {
        ...valid,
        download: { allowedOrigins: ["https://CDN.example.com", "http://mirror.example:8080/", "https://a.example:443"] },
      },
      "/x/agent.json",
    );
    expect(c.download.allowedOrigins).toEqual(["https://cdn.example.com", "http://mirror.example:8080", "https://a.example"]);
  });

  it("refuses allowedOrigins that are not bare http(s) origins, and unknown download keys", () => {
    const bad = {
      ...valid,
      download: {
        allowedOrigins: ["file:///", "https://cdn.example.com/models", "https://u:p@cdn.example.com", "cdn.example.com", 7],
        allowedOrigin: ["https://cdn.example.com"],
      },
    };
    const message = configProblems(bad);
    for (let i = 0; i < 5; i++) expect(message).toContain(`download.allowedOrigins[${i}]`);
    expect(message).toContain('unknown key "download.allowedOrigin"');
    expect(message).toMatch(/has 6 problem/);
    expect(() => parseConfig({ ...valid, download: { allowedOrigins: "https://cdn.example.com" } }, "/x/agent.json")).toThrow(
      /download.allowedOrigins must be a list/,
    );
  });
});

describe("agent config: shadow", () => {
  /** Shadow runs in the hand-over proxy: the config it is accepted in. */
  const viaProxy = {
    ...valid,
    service: { ...valid.service, strategy: "handover", handover: { port: 9208 } },
  };

  it("is refused without the hand-over proxy", () => {
    expect(configProblems({ ...valid, shadow: {} })).toMatch(/shadow needs service\.strategy "handover"/);
  });

  it("is off without the section", () => {
    expect(parseConfig(valid, "/x/agent.json").shadow).toBeUndefined();
  });

  it("an empty section takes every default: GET and HEAD on every path", () => {
    const shadow = parseConfig({ ...viaProxy, shadow: {} }, "/x/agent.json").shadow;
    expect(shadow).toEqual({
      sampleRate: 0.1,
      methods: ["GET", "HEAD"],
      paths: ["/"],
      labelField: undefined,
      scoreField: undefined,
      minSamples: 100,
      minAgreement: 0.95,
      maxScoreDiffP95: 0.05,
      maxLatencyRatio: 2,
      latencyQuantile: "p95",
      latencyFloorMs: 10,
      maxDurationSeconds: 600,
      maxBodyKiB: 64,
      queueSize: 16,
      concurrency: 2,
      candidateTimeoutMs: 5000,
    });
  });

  it("takes a POST prediction route with its fields, and is what the proxy's startShadow takes", () => {
    const shadow = parseConfig(
      {
        ...viaProxy,
        shadow: { methods: ["POST"], paths: ["/predict"], labelField: "label", scoreField: "result.scores", minSamples: 50 },
      },
      "/x/agent.json",
    ).shadow;
    expect(shadow).toMatchObject({ methods: ["POST"], paths: ["/predict"], labelField: "label", scoreField: "result.scores" });
    const options: ShadowOptions | undefined = shadow;
    expect(options?.minSamples).toBe(50);
  });

  it.each([
    [{ methods: ["FETCH"] }, /shadow\.methods\[0\] must be "GET", "HEAD", "POST"/],
    [{ methods: [] }, /shadow\.methods must be a non-empty list of GET, HEAD/],
    [{ paths: ["predict"] }, /shadow\.paths\[0\] must be a path starting with "\/"/],
    [{ labelField: "a..b" }, /shadow\.labelField must be a dotted JSON field path/],
    [{ scoreField: "" }, /shadow\.scoreField must be a non-empty string/],
    [{ sampleRate: 0 }, /shadow\.sampleRate must be a number from 0\.001 to 1/],
    [{ minSamples: 0 }, /shadow\.minSamples must be an integer from 1/],
    [{ minAgreement: 1.5 }, /shadow\.minAgreement must be a number from 0 to 1/],
    [{ latencyQuantile: "p99" }, /shadow\.latencyQuantile must be "p50" or "p95"/],
    [{ sampleRat: 0.5 }, /unknown key "shadow\.sampleRat"/],
    ["yes", /shadow must be an object/],
  ])("%j is refused: %s", (shadow, message) => {
    expect(configProblems({ ...valid, shadow })).toMatch(message);
  });
});

describe("agent config: hand-over", () => {
  const handover = (service: Record<string, unknown>, healthUrl = "http://127.0.0.1:9208/ready") => ({
    ...valid,
    service: { ...valid.service, strategy: "handover", ...service },
    health: { url: healthUrl },
  });

  it("takes the proxy's port, with defaults for the rest", () => {
    const c = parseConfig(handover({ handover: { port: 9208 } }), "/x/agent.json");
    expect(c.service.strategy).toBe("handover");
    expect(c.service.handover).toMatchObject({ port: 9208, host: "127.0.0.1", drainTimeoutSeconds: 30, maxInFlight: 256 });
  });

  it.each([
    ["no handover section", handover({}), /service\.strategy "handover" needs a service\.handover section/],
    ["no port in it", handover({ handover: {} }), /service\.handover\.port is required/],
    [
      "a service run by a command",
      handover({ mode: "command", handover: { port: 9208 } }),
      /service\.strategy "handover" needs service\.mode "supervise"/,
    ],
    [
      "health.url on another port than the proxy's",
      handover({ handover: { port: 9208 } }, "http://127.0.0.1:9300/ready"),
      /health\.url must name the hand-over proxy's port 9208 \(service\.handover\.port\), not 9300/,
    ],
    [
      "a typo under handover",
      handover({ handover: { port: 9208, drainTimeout: 5 } }),
      /unknown key "service\.handover\.drainTimeout"/,
    ],
  ])("%s is refused", (_name, raw, message) => {
    expect(configProblems(raw)).toMatch(message);
  });
});
