import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startSimFleet } from "../../bench/fleet-sim/sim-fleet.js";
import { writeExampleModel } from "../../packaging/example-service/make-model.js";
import { buildRelease } from "../../publisher/commands/build.js";
import { keygen } from "../../publisher/commands/keygen.js";
import { publishChannel } from "../../publisher/commands/publish.js";
import { fleetSnapshot } from "../../publisher/fleet/fleet-state.js";
import { openFleetWatch } from "../../publisher/fleet/fleet-watch.js";
import { type RepoServer, startRepoServer } from "../../publisher/repo-server.js";
import { tally } from "../../publisher/rollout/halt-policy.js";
import { openEventWatch } from "../../publisher/rollout/halt-watch.js";
import { parsePublicKey } from "../../shared/signature.js";
import { channelTopic, deviceStatusTopic } from "../../shared/topics.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { waitFor } from "../helpers/processes.js";

// The simulator is only worth its figures if the publisher's own fleet view and
// halt watcher read it as they read real agents: this checks it through them.
const run = randomBytes(3).toString("hex");
const name = `sim-${run}`;
const channel = "stable";
const idPrefix = `sim-${run}-`;
let root: string;
let broker: TestBroker;
let repo: RepoServer;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-sim-"));
  broker = await startTestBroker();
  repo = await startRepoServer({ repoDir: join(root, "repo"), port: 0 });
}, 60_000);
afterAll(async () => {
  await repo?.close();
  await broker?.close();
  await rm(root, { recursive: true, force: true });
});

async function release(keyPath: string, version: string, seed: number): Promise<Buffer> {
  const modelDir = join(root, "models", version);
  await writeExampleModel(modelDir, { version, seed });
  await buildRelease({ modelDir, name, version, repoDir: join(root, "repo"), keyPath });
  const published = await publishChannel({ repoDir: join(root, "repo"), name, version, channel, keyPath });
  return readFile(published.path);
}

it("simulated devices report through the agent's contract: the fleet view and the halt watcher read them like agents", async () => {
  const keys = await keygen({ outDir: join(root, "keys") });
  const trustedKeys = [parsePublicKey(await readFile(keys.publicKeyPath), keys.publicKeyPath)];
  await release(keys.privateKeyPath, "1.0.0", 1);
  const fleet = await startSimFleet({
    devices: 6,
    idPrefix,
    root: join(root, "sim"),
    name,
    channel,
    repositoryUrl: repo.url,
    brokerUrl: broker.url,
    trustedKeys,
    mqttExtra: { statusMinIntervalSeconds: 0.2, pushJitterSeconds: 0 },
    activeVersion: "1.0.0",
    rollbackPercent: 0,
    failsOn: (id) => id.endsWith("2") || id.endsWith("5"),
    connectsPer100Ms: 10,
  });
  const failing = fleet.ids.filter((id) => fleet.failsOn(id, "2.0.0"));
  expect(failing).toHaveLength(2);
  const view = await openFleetWatch({ settings: { url: broker.url }, maxWaitMs: 2000, onWarning: () => {}, reconnect: true });
  const events = await openEventWatch({ settings: { url: broker.url }, name, version: "2.0.0", onWarning: () => {} });
  const ours = () => fleetSnapshot(view.fleet).devices.filter((d) => d.deviceId.startsWith(idPrefix));
  try {
    await waitFor(
      "six devices online on 1.0.0",
      async () => ours().filter((d) => d.online && d.activeVersion === "1.0.0").length === 6,
      20_000,
    );
    const pointer = await release(keys.privateKeyPath, "2.0.0", 2);
    const pub = await mqtt.connectAsync(broker.url);
    await pub.publishAsync(channelTopic(name, channel), pointer, { qos: 1, retain: true });
    // The result event can reach the fleet view before the status that carries the new active version
    // (the view shows a newer outcome at once), so wait for both; the checks below say what is wrong if not.
    const expectedActive = (id: string) => (failing.includes(id) ? "1.0.0" : "2.0.0");
    await waitFor(
      "every device done with 2.0.0, its status caught up",
      async () =>
        ours().filter(
          (d) => d.phase === "idle" && d.lastResult?.version === "2.0.0" && d.activeVersion === expectedActive(d.deviceId),
        ).length === 6,
      30_000,
    ).catch(() => {});
    for (const d of ours()) {
      const fails = failing.includes(d.deviceId);
      expect(d.activeVersion, `${d.deviceId}: ${JSON.stringify(d.lastResult)}`).toBe(fails ? "1.0.0" : "2.0.0");
      expect(d.lastResult?.result, d.deviceId).toBe(fails ? "rolled_back" : "succeeded");
    }
    await waitFor("the halt watcher counted all six", async () => tally(events.results).reported === 6, 10_000);
    expect(tally(events.results).failed).toBe(failing.length);
    await fleet.stop();
    await waitFor("all offline after stop", async () => ours().every((d) => !d.online), 10_000);
    // Clear what this test left retained on a shared broker.
    for (const id of fleet.ids) await pub.publishAsync(deviceStatusTopic(id), Buffer.alloc(0), { qos: 1, retain: true });
    await pub.publishAsync(channelTopic(name, channel), Buffer.alloc(0), { qos: 1, retain: true });
    await pub.endAsync();
  } finally {
    await fleet.stop();
    await view.close();
    await events.close();
  }
}, 90_000);
