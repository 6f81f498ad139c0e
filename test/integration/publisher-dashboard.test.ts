import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { get } from "node:http";
import mqtt from "mqtt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { publishChannel } from "../../publisher/commands/publish.js";
import { changeRollout } from "../../publisher/commands/rollout.js";
import { type RunningDashboard, startDashboard } from "../../publisher/dashboard/dashboard-command.js";
import type { DashboardAuth } from "../../publisher/dashboard/dashboard-options.js";
import type { DashboardSnapshot, DashboardUpdate } from "../../publisher/dashboard/dashboard-state.js";
import { deviceStatusTopic } from "../../shared/topics.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { ensurePublisherBuilt } from "../helpers/built-publisher.js";
import { PUBLISH_BIN, runNode, waitFor } from "../helpers/processes.js";
import { deviceStatus, SimulatedFleet } from "../helpers/simulated-devices.js";
import { type TempPublisher, tempPublisher } from "../helpers/temp-publisher.js";

let broker: TestBroker;
let publisher: TempPublisher;
let fleet: SimulatedFleet | undefined;
const running: RunningDashboard[] = [];

beforeAll(async () => {
  await ensurePublisherBuilt();
  broker = await startTestBroker();
  publisher = await tempPublisher("edgepull-dashboard-", "demo-model", ["1.0.0", "2.0.0"]);
}, 120_000);
afterAll(async () => {
  await broker.close();
  await rm(publisher.root, { recursive: true, force: true });
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((d) => d.stop()));
  await fleet?.close();
  fleet = undefined;
});

/** Unique per test: on a shared broker (MQTT_URL) other tests' devices are present too. */
const tag = (): string => randomBytes(3).toString("hex");

async function channelAt(channel: string, version: string, percent: number): Promise<void> {
  const base = { repoDir: publisher.repoDir, name: "demo-model", channel, keyPath: publisher.keyPath };
  await publishChannel({ ...base, version });
  if (percent < 100) await changeRollout({ ...base, action: { kind: "percent", percent } });
}

async function dashboard(auth: DashboardAuth = { kind: "none" }): Promise<RunningDashboard> {
  const d = await startDashboard({
    settings: { url: broker.url },
    repoDir: publisher.repoDir,
    listen: { host: "127.0.0.1", port: 0, auth },
    onWarning: () => {},
    pointerReloadMs: 100,
    updateIntervalMs: 100,
  });
  running.push(d);
  return d;
}

async function snapshot(d: RunningDashboard): Promise<DashboardSnapshot> {
  const res = await fetch(`${d.url}api/snapshot`);
  expect(res.status).toBe(200);
  return (await res.json()) as DashboardSnapshot;
}

/** The server-sent events of one stream, parsed as they arrive. */
async function openStream(url: string): Promise<{ events: { event: string; data: unknown }[]; close(): void }> {
  const abort = new AbortController();
  const res = await fetch(url, { signal: abort.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/event-stream");
  const events: { event: string; data: unknown }[] = [];
  const reader = res.body!.getReader();
  let buffer = "";
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += Buffer.from(value).toString("utf8");
        let end = buffer.indexOf("\n\n");
        while (end >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.+)$/m.exec(frame)?.[1];
          const data = /^data: (.+)$/m.exec(frame)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
          end = buffer.indexOf("\n\n");
        }
      }
    } catch {
      // aborted
    }
  })();
  return { events, close: () => abort.abort() };
}

describe("edge-publish dashboard: the server", () => {
  it("GET /api/snapshot shows every device, the versions and the channel's rollout from the repository", async () => {
    const t = tag();
    const channel = `c${t}`;
    await channelAt(channel, "2.0.0", 100);
    const sim = new SimulatedFleet(broker.url);
    fleet = sim;
    const [done, failed, waiting] = await Promise.all([`done-${t}`, `failed-${t}`, `waiting-${t}`].map((id) => sim.add(id)));
    await done!.status({ channel, activeVersion: "2.0.0", previousVersion: "1.0.0" });
    await failed!.status({
      channel,
      activeVersion: "1.0.0",
      lastResult: { version: "2.0.0", result: "rolled_back", errorCode: "HEALTH_TIMEOUT", at: new Date().toISOString() },
    });
    await waiting!.status({ channel, activeVersion: "1.0.0", phase: "downloading" });
    const d = await dashboard();
    const s = await waitFor("three devices in the snapshot", async () => {
      const got = await snapshot(d);
      return got.devices.filter((x) => x.deviceId.endsWith(t)).length === 3 ? got : undefined;
    });
    const mine = Object.fromEntries(s.devices.filter((x) => x.deviceId.endsWith(t)).map((x) => [x.deviceId, x]));
    expect(mine[`done-${t}`]).toMatchObject({ online: true, activeVersion: "2.0.0", phase: "idle", health: { ok: true } });
    expect(mine[`done-${t}`]?.inventory).toMatchObject({ arch: "arm64", cpu: { cores: 4 } });
    expect(mine[`failed-${t}`]?.lastResult).toMatchObject({ result: "rolled_back", errorCode: "HEALTH_TIMEOUT" });
    expect(typeof mine[`waiting-${t}`]?.lastSeen).toBe("string");
    expect(s.channels.find((c) => c.channel === channel)).toMatchObject({
      name: "demo-model",
      version: "2.0.0",
      rollout: { percent: 100, paused: false },
      devices: 3,
      updated: 1,
      failed: 1,
      pending: 1,
      outside: 0,
    });
    expect(s.versions.find((v) => v.version === "2.0.0")?.devices).toBeGreaterThanOrEqual(1);

    // A rollout change written to the repository (no broker involved) reaches the snapshot.
    await changeRollout({
      repoDir: publisher.repoDir,
      name: "demo-model",
      channel,
      keyPath: publisher.keyPath,
      action: { kind: "pause" },
    });
    await waitFor(
      "the paused share",
      async () => (await snapshot(d)).channels.find((c) => c.channel === channel)?.rollout.paused,
    );

    const history = await fetch(`${d.url}api/devices/${encodeURIComponent(`failed-${t}`)}/history`);
    expect(history.status).toBe(200);
    const body = (await history.json()) as { device: { deviceId: string }; history: { type: string }[] };
    expect(body.device.deviceId).toBe(`failed-${t}`);
    expect(body.history.map((h) => h.type)).toContain("online");
    const unknown = await fetch(`${d.url}api/devices/nobody-${t}/history`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toContain(`nobody-${t}`);
  });

  it("GET /api/events streams a snapshot, then coalesced updates: new devices, events, a last-will, chart points", async () => {
    const t = tag();
    const channel = `c${t}`;
    await channelAt(channel, "2.0.0", 100);
    const d = await dashboard();
    const stream = await openStream(`${d.url}api/events`);
    try {
      await waitFor("the first snapshot", () => stream.events[0]?.event === "snapshot");
      const sim = new SimulatedFleet(broker.url);
      fleet = sim;
      const ids = Array.from({ length: 30 }, (_, i) => `burst-${String(i).padStart(2, "0")}-${t}`);
      const devices = await Promise.all(ids.map((id) => sim.add(id)));
      await Promise.all(devices.map((dev) => dev.status({ channel, activeVersion: "1.0.0" })));
      const updates = (): DashboardUpdate[] =>
        stream.events.filter((e) => e.event === "update").map((e) => e.data as DashboardUpdate);
      const seen = (): Set<string> => new Set(updates().flatMap((u) => u.devices.map((x) => x.deviceId)));
      await waitFor("all 30 devices streamed", () => ids.every((id) => seen().has(id)));
      // Thirty statuses within one update window arrive as far fewer messages than thirty.
      expect(updates().filter((u) => u.devices.some((x) => ids.includes(x.deviceId))).length).toBeLessThan(30);

      const first = devices[0]!;
      await first.event({ type: "update_started", version: "2.0.0" });
      await first.event({ type: "failed", version: "2.0.0", errorCode: "DIGEST_MISMATCH", error: "bundle digest differs" });
      await waitFor("the failed event streamed", () =>
        updates().some((u) =>
          u.events.some((e) => e.deviceId === first.id && e.type === "failed" && e.errorCode === "DIGEST_MISMATCH"),
        ),
      );
      await first.status({
        channel,
        activeVersion: "1.0.0",
        lastResult: { version: "2.0.0", result: "failed", errorCode: "DIGEST_MISMATCH", at: new Date().toISOString() },
      });
      await devices[1]!.status({ channel, activeVersion: "2.0.0" });
      await waitFor("a chart point with one updated and one failed", () =>
        updates().some((u) => {
          const p = u.points[`demo-model/${channel}`];
          return p !== undefined && p.updated === 1 && p.failed === 1;
        }),
      );

      devices[2]!.vanish();
      await waitFor("the last-will streamed as offline", () =>
        updates().some((u) => u.devices.some((x) => x.deviceId === devices[2]!.id && !x.online)),
      );
      expect(updates().some((u) => u.events.some((e) => e.deviceId === devices[2]!.id && e.type === "offline"))).toBe(true);
    } finally {
      stream.close();
    }
  });

  it("streams a burst of 1,000 retained statuses as a few coalesced updates", async () => {
    const t = tag();
    const d = await dashboard();
    const stream = await openStream(`${d.url}api/events`);
    const ids = Array.from({ length: 1000 }, (_, i) => `many-${i}-${t}`);
    const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0, connectTimeout: 5000 });
    try {
      await waitFor("the first snapshot", () => stream.events[0]?.event === "snapshot");
      await Promise.all(
        ids.map((id) => client.publishAsync(deviceStatusTopic(id), JSON.stringify(deviceStatus(id)), { qos: 1, retain: true })),
      );
      const updates = (): DashboardUpdate[] =>
        stream.events.filter((e) => e.event === "update").map((e) => e.data as DashboardUpdate);
      await waitFor(
        "all 1000 devices streamed",
        () => {
          const seen = new Set(updates().flatMap((u) => u.devices.map((x) => x.deviceId)));
          return ids.every((id) => seen.has(id));
        },
        30_000,
      );
      const carrying = updates().filter((u) => u.devices.some((x) => x.deviceId.endsWith(t)));
      expect(carrying.length).toBeLessThan(100);
      const s = await snapshot(d);
      expect(s.devices.filter((x) => x.deviceId.endsWith(t))).toHaveLength(1000);
    } finally {
      stream.close();
      for (const id of ids) await client.publishAsync(deviceStatusTopic(id), Buffer.alloc(0), { qos: 1, retain: true });
      await client.endAsync();
    }
  });

  it("with --token, the API needs the token (header or query); the page's own files do not", async () => {
    const token = "s3cret-token-0123456789";
    const d = await dashboard({ kind: "token", token });
    expect((await fetch(`${d.url}api/snapshot`)).status).toBe(401);
    expect((await fetch(`${d.url}api/snapshot?token=wrong-token-0123456789`)).status).toBe(401);
    expect((await fetch(`${d.url}api/events`)).status).toBe(401);
    expect((await fetch(`${d.url}api/snapshot?token=${token}`)).status).toBe(200);
    expect((await fetch(`${d.url}api/snapshot`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await fetch(d.url)).status).toBe(200);
    const uplot = await fetch(`${d.url}vendor/uPlot.iife.min.js`);
    expect(uplot.status).toBe(200);
    expect(await uplot.text()).toContain("uPlot");
  });

  it("with --basic-auth, everything needs the user and password, and a refusal carries the challenge", async () => {
    const d = await dashboard({ kind: "basic", user: "ops", password: "pa:ss" });
    const basic = (s: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(s).toString("base64")}` });
    const none = await fetch(d.url);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toContain("Basic");
    expect((await fetch(`${d.url}api/snapshot`, { headers: basic("ops:wrong") })).status).toBe(401);
    expect((await fetch(`${d.url}api/snapshot`, { headers: basic("other:pa:ss") })).status).toBe(401);
    expect((await fetch(`${d.url}api/snapshot`, { headers: basic("ops:pa:ss") })).status).toBe(200);
    expect((await fetch(d.url, { headers: basic("ops:pa:ss") })).status).toBe(200);
  });

  it("is read-only and, without a secret, answers only requests addressed to loopback", async () => {
    const d = await dashboard();
    const post = await fetch(`${d.url}api/snapshot`, { method: "POST", body: "{}" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    // A rebinding attack arrives with the attacker's host name.
    // (fetch does not let a caller set Host; node:http does.)
    const rebound = await new Promise<number | undefined>((resolve, reject) =>
      get(`${d.url}api/snapshot`, { headers: { host: "evil.example:80" } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      }).on("error", reject),
    );
    expect(rebound).toBe(403);
    expect((await fetch(`${d.url}nothing-here`)).status).toBe(404);
    // HEAD answers at once, with no stream left open.
    const head = await fetch(`${d.url}api/events`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-type")).toContain("text/event-stream");
    const page = await fetch(d.url);
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
  });
});

describe("edge-publish dashboard (built CLI)", () => {
  const cli = (...args: string[]) => runNode(PUBLISH_BIN, ["dashboard", ...args], {}, 30_000);

  it.each([
    [["--host", "0.0.0.0"], /--host 0\.0\.0\.0 is not a loopback address.*--token T or --basic-auth USER:PASS/],
    [["--token", "short"], /--token must be at least 16 characters \(found 5\)/],
    [["--token", "0123456789abcdef", "--basic-auth", "a:b"], /--token or --basic-auth, not both/],
    [["--basic-auth", "nopassword"], /--basic-auth takes USER:PASS/],
    [["--port", "70000"], /--port/],
    [["--bogus"], /--bogus/],
  ])("refuses %j with USAGE (exit 2) naming the problem", async (extra, message) => {
    const r = await cli("--mqtt", broker.url, "--repo", publisher.repoDir, ...extra);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/USAGE/);
    expect(r.stderr).toMatch(message);
  });

  it("needs --mqtt and --repo, and refuses a folder that is not a repository", async () => {
    const noMqtt = await cli("--repo", publisher.repoDir);
    expect(noMqtt.code).toBe(2);
    expect(noMqtt.stderr).toContain("dashboard needs --mqtt");
    const noRepo = await cli("--mqtt", broker.url);
    expect(noRepo.code).toBe(2);
    expect(noRepo.stderr).toContain("dashboard needs --repo");
    const notRepo = await cli("--mqtt", broker.url, "--repo", publisher.root);
    expect(notRepo.code).toBe(1);
    expect(notRepo.stderr).toContain("REPO_INVALID");
    const noBroker = await cli("--mqtt", "mqtt://127.0.0.1:9", "--repo", publisher.repoDir, "--port", "0");
    expect(noBroker.code).toBe(1);
    expect(noBroker.stderr).toContain("MQTT_ERROR");
  });

  it("refuses a port already in use with PORT_IN_USE (exit 1), naming it, as serve does", async () => {
    const taken = await dashboard();
    const r = await cli("--mqtt", broker.url, "--repo", publisher.repoDir, "--port", String(taken.port));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^edge-publish: PORT_IN_USE: port ${taken.port} on 127\\.0\\.0\\.1 is already in use`));
  });

  it("serves until SIGTERM and prints its URL (--json)", async () => {
    const { spawn } = await import("node:child_process");
    const child = spawn(process.execPath, [
      PUBLISH_BIN,
      "dashboard",
      "--mqtt",
      broker.url,
      "--repo",
      publisher.repoDir,
      "--port",
      "0",
      "--json",
    ]);
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      const printed = await waitFor("the URL line", () =>
        out.includes("\n") ? (JSON.parse(out) as { url: string; port: number }) : undefined,
      );
      expect(printed.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const res = await fetch(`${printed.url}api/snapshot`);
      expect(res.status).toBe(200);
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});
