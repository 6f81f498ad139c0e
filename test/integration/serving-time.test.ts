import { mkdir, mkdtemp, rename, rm, symlink } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type AgentConfig, parseConfig } from "../../agent/config.js";
import { readCurrentVersion } from "../../agent/install/activate.js";
import { layoutFor } from "../../agent/install/layout.js";
import { silentLogger } from "../../agent/logging.js";
import { HealthWatch } from "../../agent/service/health-watch.js";
import { RestartCommand } from "../../agent/service/restart-command.js";
import { type Db, openDb } from "../../agent/state/db.js";
import { StateStore } from "../../agent/state/store.js";
import { LocalEndpoint } from "../../agent/telemetry/local-endpoint.js";
import { ServingAccountant } from "../../agent/telemetry/serving-accountant.js";
import { readStatus } from "../../agent/telemetry/status-snapshot.js";

/**
 * The daemon's serving-time accounting with real parts: a real HTTP service
 * whose /ready the test flips, the real health watch probing it, the real
 * `current` symlink and the real SQLite journal, reopened as after a restart.
 * Only the monotonic clock is the test's, so a minute passes in a line.
 */

const MINUTE = 60_000;
const cleanups: (() => Promise<void> | void)[] = [];
let root: string;
let dataDir: string;
let ready: { value: boolean };
let healthUrl: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-serving-"));
  dataDir = join(root, "data");
  await mkdir(join(dataDir, "versions", "1.0.0"), { recursive: true });
  await mkdir(join(dataDir, "versions", "1.1.0"), { recursive: true });
  await symlink("versions/1.0.0", join(dataDir, "current"));
  ready = { value: true };
  const state = ready;
  const server: Server = createServer((_req, res) => {
    res.writeHead(state.value ? 200 : 503).end(state.value ? "ready" : "loading");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  healthUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ready`;
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await rm(root, { recursive: true, force: true });
});

function configFor(): AgentConfig {
  return parseConfig(
    {
      deviceId: "dev-serving-1",
      dataDir,
      name: "demo-model",
      channel: "canary",
      repository: "http://127.0.0.1:1/repo",
      trustedKeys: [join(root, "key.pub")],
      service: { mode: "command", command: ["true"] },
      health: { url: healthUrl },
    },
    join(root, "agent.json"),
  );
}

/** One daemon's worth of accounting: journal, watch and accountant, on a clock the test moves. */
function daemonParts(opts: { busy?: () => boolean } = {}) {
  const db: Db = openDb(layoutFor(dataDir).dbPath);
  const clock = { ms: 0 };
  // The journal's timestamps follow the same clock, so "the most recent first" is the test's to decide.
  const store = new StateStore(db, () => new Date(Date.UTC(2026, 0, 1) + clock.ms));
  const busy = opts.busy ?? (() => false);
  const watch = new HealthWatch({
    url: healthUrl,
    // The test probes with check(); the watch's own loop never starts.
    intervalMs: MINUTE,
    timeoutMs: 2000,
    service: new RestartCommand({ command: ["true"], cwd: tmpdir(), timeoutMs: 5000, logger: silentLogger() }),
    busy,
    logger: silentLogger(),
  });
  const accountant = new ServingAccountant({
    store,
    activeVersion: () => readCurrentVersion(layoutFor(dataDir)),
    busy,
    maxGapMs: 2 * MINUTE + 2000,
    // Every counted period is written at once, so the journal can be read after each step.
    flushEveryMs: 0,
    logger: silentLogger(),
    monotonicMs: () => clock.ms,
  });
  const pending: Promise<void>[] = [];
  watch.on("reading", (r) => pending.push(accountant.observe(r)));
  /** Moves the clock by `ms`, probes the real service once and waits until the reading is counted. */
  const probeAfter = async (ms: number): Promise<void> => {
    clock.ms += ms;
    await watch.check();
    await Promise.all(pending.splice(0));
  };
  const close = async (): Promise<void> => {
    await watch.stop();
    await accountant.stop();
    db.close();
  };
  return { store, clock, accountant, probeAfter, close };
}

function seconds(store: StateStore, version: string): { healthy: number; unhealthy: number } {
  const row = store.servingTime().find((r) => r.version === version);
  return { healthy: (row?.healthyMs ?? 0) / 1000, unhealthy: (row?.unhealthyMs ?? 0) / 1000 };
}

async function switchCurrent(version: string): Promise<void> {
  await symlink(`versions/${version}`, join(dataDir, "current.tmp"));
  await rename(join(dataDir, "current.tmp"), join(dataDir, "current"));
}

describe("serving-time accounting", () => {
  it("counts a period healthy only when the probes at both ends answered ready, per active version", async () => {
    const d = daemonParts();
    cleanups.push(d.close);
    await d.probeAfter(0); // the first reading starts a period and counts nothing
    expect(seconds(d.store, "1.0.0")).toEqual({ healthy: 0, unhealthy: 0 });
    await d.probeAfter(MINUTE);
    expect(seconds(d.store, "1.0.0")).toEqual({ healthy: 60, unhealthy: 0 });

    ready.value = false;
    await d.probeAfter(MINUTE); // ready -> not ready: the whole period is unhealthy
    await d.probeAfter(MINUTE); // not ready -> not ready
    ready.value = true;
    await d.probeAfter(MINUTE); // not ready -> ready: still unhealthy
    expect(seconds(d.store, "1.0.0")).toEqual({ healthy: 60, unhealthy: 180 });
    await d.probeAfter(30_000);
    expect(seconds(d.store, "1.0.0")).toEqual({ healthy: 90, unhealthy: 180 });

    // A silence longer than the watch would ever leave (a stopped or suspended daemon) counts as nothing...
    await d.probeAfter(10 * MINUTE);
    expect(seconds(d.store, "1.0.0")).toEqual({ healthy: 90, unhealthy: 180 });
    // ...and the next period counts again.
    await d.probeAfter(MINUTE);
    expect(seconds(d.store, "1.0.0")).toEqual({ healthy: 150, unhealthy: 180 });

    // The period across a version change belongs to neither version; then the new one counts.
    await switchCurrent("1.1.0");
    await d.probeAfter(MINUTE);
    expect(seconds(d.store, "1.1.0")).toEqual({ healthy: 0, unhealthy: 0 });
    await d.probeAfter(MINUTE);
    expect(seconds(d.store, "1.1.0")).toEqual({ healthy: 60, unhealthy: 0 });
    expect(seconds(d.store, "1.0.0")).toEqual({ healthy: 150, unhealthy: 180 });
  });

  it("counts nothing across an update attempt: while busy, or when an attempt's phase interrupts", async () => {
    let busy = false;
    const d = daemonParts({ busy: () => busy });
    cleanups.push(d.close);
    await d.probeAfter(0);
    await d.probeAfter(MINUTE);
    busy = true;
    await d.probeAfter(MINUTE); // a probe the status reporter made during the attempt
    busy = false;
    await d.probeAfter(MINUTE); // the period from the busy reading counts nothing either
    expect(seconds(d.store, "1.0.0")).toEqual({ healthy: 60, unhealthy: 0 });
    d.accountant.interrupt(); // an attempt began and ended between two probes
    await d.probeAfter(MINUTE);
    expect(seconds(d.store, "1.0.0")).toEqual({ healthy: 60, unhealthy: 0 });
    await d.probeAfter(MINUTE);
    expect(seconds(d.store, "1.0.0")).toEqual({ healthy: 120, unhealthy: 0 });
  });

  it("keeps the totals across a restart, counts nothing for the time the daemon was down, and shows them in status and /metrics", async () => {
    const first = daemonParts();
    await first.probeAfter(0);
    await first.probeAfter(MINUTE);
    await first.probeAfter(MINUTE);
    await first.close();

    const second = daemonParts();
    cleanups.push(second.close);
    // The new daemon's first reading: the hours the old one was down are not counted.
    await second.probeAfter(5 * 3600_000);
    expect(seconds(second.store, "1.0.0")).toEqual({ healthy: 120, unhealthy: 0 });
    ready.value = false;
    await second.probeAfter(MINUTE);
    expect(seconds(second.store, "1.0.0")).toEqual({ healthy: 120, unhealthy: 60 });

    // A release this device rolled back from and deny-listed, later than it last served 1.0.0, is listed first.
    second.clock.ms += 1000;
    const bad = second.store.beginAttempt({
      kind: "update",
      source: "poll",
      fromVersion: "1.0.0",
      toVersion: "1.2.0",
      releaseJson: null,
      releaseDigest: null,
      phase: "downloading",
    });
    second.store.finishAttempt(bad, "rolled_back");
    second.store.deny({ version: "1.2.0", releaseDigest: null, errorCode: "HEALTH_FAILED", reason: "not ready" });

    const status = await readStatus(configFor(), { probeTimeoutMs: 2000 });
    expect(status.versionHealth).toEqual([
      { version: "1.2.0", healthySeconds: 0, unhealthySeconds: 0, rollbacks: 1, denied: true },
      { version: "1.0.0", healthySeconds: 120, unhealthySeconds: 60, rollbacks: 0, denied: false },
    ]);

    const endpoint = new LocalEndpoint({
      host: "127.0.0.1",
      port: 0,
      config: configFor(),
      agentVersion: "9.9.9-test",
      logger: silentLogger(),
    });
    const { url } = await endpoint.start();
    cleanups.push(() => endpoint.stop());
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toContain('edgepull_version_healthy_seconds_total{version="1.0.0"} 120\n');
    expect(text).toContain('edgepull_version_unhealthy_seconds_total{version="1.0.0"} 60\n');
    expect(text).toContain('edgepull_version_rollbacks_total{version="1.2.0"} 1\n');
  });
});
