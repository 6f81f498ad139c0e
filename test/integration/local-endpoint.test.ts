import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readlink, rm, symlink } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentConfig, parseConfig } from "../../agent/config.js";
import { silentLogger } from "../../agent/logging.js";
import { type Db, openDb } from "../../agent/state/db.js";
import { StateStore } from "../../agent/state/store.js";
import { LocalEndpoint } from "../../agent/telemetry/local-endpoint.js";
import type { StatusSnapshot } from "../../agent/telemetry/status-snapshot.js";
import { EdgeError } from "../../shared/errors.js";

const hasPromtool = spawnSync("promtool", ["--version"], { stdio: "ignore" }).status === 0;

let root: string;
let health: Server;
let healthUrl: string;
let ready = true;
let db: Db;
let store: StateStore;
const endpoints: LocalEndpoint[] = [];

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

function configFor(dataDir: string): AgentConfig {
  return parseConfig(
    {
      deviceId: "dev-metrics-1",
      dataDir,
      name: "demo-model",
      channel: "stable",
      repository: "http://127.0.0.1:1/repo",
      trustedKeys: [join(root, "key.pub")],
      service: { mode: "command", command: ["true"] },
      health: { url: `${healthUrl}/ready` },
    },
    join(root, "agent.json"),
  );
}

async function startEndpoint(dataDir: string, extra: { port?: number } = {}): Promise<{ url: string; endpoint: LocalEndpoint }> {
  const endpoint = new LocalEndpoint({
    host: "127.0.0.1",
    port: extra.port ?? 0,
    config: configFor(dataDir),
    agentVersion: "9.9.9-test",
    logger: silentLogger(),
  });
  const { url } = await endpoint.start();
  endpoints.push(endpoint);
  return { url, endpoint };
}

/** The attempts a daemon would have journaled: two updates, a bad release rolled back, a failure, an operator rollback. */
function journal(): void {
  const update = (from: string | null, to: string) =>
    store.beginAttempt({
      kind: "update",
      source: "poll",
      fromVersion: from,
      toVersion: to,
      releaseJson: null,
      releaseDigest: null,
      phase: "downloading",
    });
  const first = update(null, "0.9.0");
  store.setBytesDownloaded(first, 1000);
  store.finishAttempt(first, "succeeded");
  const second = update("0.9.0", "1.0.0");
  store.setBytesDownloaded(second, 2000);
  store.finishAttempt(second, "succeeded");
  const bad = update("1.0.0", "1.1.0");
  store.setBytesDownloaded(bad, 300);
  store.setPhase(bad, "probation");
  store.setError(bad, "HEALTH_TIMEOUT", "not ready");
  store.setPhase(bad, "rolling_back");
  store.finishAttempt(bad, "rolled_back");
  const broken = update("1.0.0", "1.2.0");
  store.setBytesDownloaded(broken, 40);
  store.setError(broken, "DIGEST_MISMATCH", "bad bytes");
  store.finishAttempt(broken, "failed");
  const manual = store.beginAttempt({
    kind: "rollback",
    source: "cli",
    fromVersion: "1.0.0",
    toVersion: "0.9.0",
    releaseJson: null,
    releaseDigest: null,
    phase: "activating",
  });
  store.finishAttempt(manual, "succeeded");
  store.setPreviousVersion("0.9.0");
  store.setLastCheck({ at: "2024-05-01T12:00:00.000Z", outcome: "up-to-date" });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-endpoint-"));
  health = createServer((req, res) => {
    res.writeHead(ready && req.url === "/ready" ? 200 : 503).end(ready ? "ok" : "warming up");
  });
  healthUrl = `http://127.0.0.1:${await listen(health)}`;
  const dataDir = join(root, "data");
  await mkdir(join(dataDir, "versions", "1.0.0"), { recursive: true });
  await symlink(join("versions", "1.0.0"), join(dataDir, "current"));
  // The daemon's writer stays open throughout, as it would on a device.
  db = openDb(join(dataDir, "state.db"));
  store = new StateStore(db);
  journal();
});

afterAll(async () => {
  await Promise.all(endpoints.splice(0).map((e) => e.stop()));
  db.close();
  await new Promise<void>((resolve) => health.close(() => resolve()));
  await rm(root, { recursive: true, force: true });
});

/** Every line is a comment or `name{labels} value`; returns the samples as "name{labels}" -> value. */
function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})? (\S+)$/;
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    const m = sample.exec(line);
    if (!m) throw new Error(`not an exposition line: ${JSON.stringify(line)}`);
    const value = Number(m[3]);
    if (Number.isNaN(value)) throw new Error(`not a number in ${JSON.stringify(line)}`);
    out.set(`${m[1]}${m[2] ?? ""}`, value);
  }
  return out;
}

describe("LocalEndpoint", () => {
  it("serves the status snapshot as JSON, 200 while healthy", async () => {
    const { url } = await startEndpoint(join(root, "data"));
    const res = await fetch(`${url}/status`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const body = (await res.json()) as StatusSnapshot;
    expect(body).toMatchObject({
      deviceId: "dev-metrics-1",
      activeVersion: "1.0.0",
      previousVersion: "0.9.0",
      phase: "idle",
      healthy: true,
      problems: [],
    });
    expect(body.lastUpdate).toMatchObject({ kind: "rollback", toVersion: "0.9.0", result: "succeeded" });
  });

  it("answers 503 with the same JSON when the service is not ready", async () => {
    const { url } = await startEndpoint(join(root, "data"));
    ready = false;
    try {
      const res = await fetch(`${url}/status`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as StatusSnapshot;
      expect(body.deviceId).toBe("dev-metrics-1");
      expect(body.healthy).toBe(false);
      expect(body.health.ok).toBe(false);
      expect(body.problems.join("\n")).toContain("service not ready");
      const metrics = parseExposition(await (await fetch(`${url}/metrics`)).text());
      expect(metrics.get("edgepull_service_ready")).toBe(0);
      expect(metrics.get("edgepull_healthy")).toBe(0);
    } finally {
      ready = true;
    }
  });

  it("serves metrics in the Prometheus text format, counted from the journal", async () => {
    const { url } = await startEndpoint(join(root, "data"));
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = parseExposition(await res.text());
    expect(m.get('edgepull_updates_total{result="succeeded"}')).toBe(2);
    expect(m.get('edgepull_updates_total{result="rolled_back"}')).toBe(1);
    expect(m.get('edgepull_updates_total{result="failed"}')).toBe(1);
    expect(m.get('edgepull_updates_total{result="superseded"}')).toBe(0);
    expect(m.get('edgepull_rollbacks_total{kind="automatic"}')).toBe(1);
    expect(m.get('edgepull_rollbacks_total{kind="manual"}')).toBe(1);
    expect(m.get("edgepull_downloaded_bytes_total")).toBe(3340);
    expect(m.get("edgepull_delta_saved_bytes_total")).toBe(0);
    expect(m.get('edgepull_phase{phase="idle"}')).toBe(1);
    expect(m.get('edgepull_active_version_info{version="1.0.0",previous="0.9.0",name="demo-model",channel="stable"}')).toBe(1);
    expect(m.get("edgepull_last_check_timestamp_seconds")).toBe(1714564800);
    expect(m.get("edgepull_service_ready")).toBe(1);
    expect(m.get("edgepull_healthy")).toBe(1);
    expect(m.get("edgepull_denied_versions")).toBe(0);
    expect(m.get("edgepull_free_disk_bytes")).toBeGreaterThan(0);
    expect(m.get('edgepull_agent_info{version="9.9.9-test"}')).toBe(1);
  });

  it("reads the journal afresh on every scrape and leaves no handle on it", async () => {
    const { url } = await startEndpoint(join(root, "data"));
    const dbHandles = async (): Promise<number> => {
      let n = 0;
      for (const fd of await readdir("/proc/self/fd")) {
        const target = await readlink(`/proc/self/fd/${fd}`).catch(() => "");
        if (target.startsWith(join(root, "data", "state.db"))) n++;
      }
      return n;
    };
    const before = process.platform === "linux" ? await dbHandles() : 0;
    const open = store.beginAttempt({
      kind: "update",
      source: "poll",
      fromVersion: "1.0.0",
      toVersion: "1.3.0",
      releaseJson: null,
      releaseDigest: null,
      phase: "downloading",
    });
    try {
      store.setBytesDownloaded(open, 60);
      store.setPhase(open, "staging");
      const m = parseExposition(await (await fetch(`${url}/metrics`)).text());
      expect(m.get('edgepull_phase{phase="staging"}')).toBe(1);
      expect(m.get('edgepull_phase{phase="idle"}')).toBe(0);
      expect(m.get("edgepull_downloaded_bytes_total")).toBe(3400);
      if (process.platform === "linux") expect(await dbHandles()).toBe(before);
    } finally {
      store.finishAttempt(open, "superseded");
    }
    const m = parseExposition(await (await fetch(`${url}/metrics`)).text());
    expect(m.get('edgepull_updates_total{result="superseded"}')).toBe(1);
    expect(m.get('edgepull_phase{phase="idle"}')).toBe(1);
  });

  it.skipIf(!hasPromtool)(
    "passes `promtool check metrics` (skipped when promtool, Debian package prometheus, is absent)",
    async () => {
      const { url } = await startEndpoint(join(root, "data"));
      const text = await (await fetch(`${url}/metrics`)).text();
      const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
      expect({ status: check.status, out: `${check.stdout}${check.stderr}` }).toEqual({ status: 0, out: "" });
    },
  );

  it("answers HEAD without a body, 405 for other methods and 404 elsewhere", async () => {
    const { url } = await startEndpoint(join(root, "data"));
    const head = await fetch(`${url}/metrics`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get("content-length"))).toBeGreaterThan(0);
    expect(await head.text()).toBe("");
    const post = await fetch(`${url}/status`, { method: "POST", body: "{}" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    await post.text();
    for (const path of ["/", "/status/extra", "/metricsx", "/STATUS"]) {
      const res = await fetch(`${url}${path}`);
      expect([path, res.status]).toEqual([path, 404]);
      await res.text();
    }
    const query = await fetch(`${url}/metrics?x=1`);
    expect(query.status).toBe(200);
    await query.text();
  });

  it("works before the agent ever ran: no journal, no version, every counter at 0", async () => {
    const fresh = join(root, "fresh");
    await mkdir(fresh, { recursive: true });
    const { url } = await startEndpoint(fresh);
    const status = await fetch(`${url}/status`);
    expect(status.status).toBe(503);
    const body = (await status.json()) as StatusSnapshot;
    expect(body.activeVersion).toBeNull();
    expect(body.problems.join("\n")).toContain("no journal");
    const m = parseExposition(await (await fetch(`${url}/metrics`)).text());
    expect(m.get('edgepull_updates_total{result="succeeded"}')).toBe(0);
    expect(m.get("edgepull_downloaded_bytes_total")).toBe(0);
    expect([...m.keys()].some((k) => k.startsWith("edgepull_active_version_info"))).toBe(false);
  });

  it("refuses a port already in use with CONFIG_INVALID, and stops cleanly with a keep-alive client", async () => {
    const { url, endpoint } = await startEndpoint(join(root, "data"));
    const port = Number(new URL(url).port);
    const clash = new LocalEndpoint({
      host: "127.0.0.1",
      port,
      config: configFor(join(root, "data")),
      agentVersion: "x",
      logger: silentLogger(),
    });
    const err = await clash.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EdgeError);
    expect((err as EdgeError).code).toBe("CONFIG_INVALID");
    expect((err as EdgeError).message).toContain(`127.0.0.1:${port}`);
    // fetch keeps the connection alive; stop() must not wait for it to idle out.
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    await res.text();
    await endpoint.stop();
    await expect(fetch(`${url}/status`)).rejects.toThrow();
  });
});
