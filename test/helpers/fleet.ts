import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import type { StatusSnapshot } from "../../agent/telemetry/status-snapshot.js";
import { loadModel, warmUp } from "../../packaging/example-service/model.js";
import { channelTopic, deviceStatusTopic } from "../../shared/topics.js";
import type { LoggedProcess } from "./processes.js";
import { agentConfig, TestDevice } from "./test-device.js";
import { TestRepository } from "./test-repository.js";

export interface FleetOptions {
  deviceIds: string[];
  mqttUrl: string;
  name?: string;
  /** Unique per run on a shared broker: the channel's retained pointer topic is named after it. */
  channel: string;
  healthTimeoutSeconds?: number;
  probationSeconds?: number;
  /** Keys added to each device's `mqtt` section. */
  mqtt?: Record<string, unknown>;
}

export interface FleetDevice {
  id: string;
  device: TestDevice;
  agent?: LoggedProcess;
  /** Set when the agent process has exited. */
  exited?: { code: number | null; signal: NodeJS.Signals | null };
  /** The agent's local endpoint, known once it listens. */
  statusUrl?: string;
}

/**
 * Many devices following one repository's channel over one MQTT broker: one
 * real `edge-agent run` process per device, each with its own folder and id.
 *
 * The inference service is not the example service: twenty more Node processes
 * would cost another ~1 GB and seconds of CPU on two cores. Each device runs in
 * `service.mode: "command"` (the documented shape for a service managed
 * elsewhere, which reads `<dataDir>/current`) with `true` as its restart
 * command, and its health URL is this fleet's readiness server: it loads the
 * model the device's `current` points at with the example service's own loader
 * and warm-up, so a release answers ready exactly when the example service would
 * serve it, and a broken one fails for the same reason.
 */
export class Fleet {
  readonly devices: FleetDevice[];
  private readonly byId: Map<string, FleetDevice>;

  private constructor(
    readonly root: string,
    readonly repo: TestRepository,
    private readonly readiness: Server,
    private readonly opts: FleetOptions,
  ) {
    this.devices = opts.deviceIds.map((id) => ({ id, device: new TestDevice(join(root, "devices", id)) }));
    this.byId = new Map(this.devices.map((d) => [d.id, d]));
  }

  static async create(opts: FleetOptions): Promise<Fleet> {
    const root = await mkdtemp(join(tmpdir(), "edgepull-fleet-"));
    const repo = await TestRepository.create(root, { name: opts.name, channel: opts.channel });
    const dataDirs = new Map(opts.deviceIds.map((id) => [id, join(root, "devices", id, "data")]));
    const readiness = await startReadinessServer(dataDirs);
    const fleet = new Fleet(root, repo, readiness, opts);
    const port = (readiness.address() as { port: number }).port;
    for (const d of fleet.devices) {
      const config = agentConfig(repo, {
        deviceId: d.id,
        service: { mode: "command", command: ["true"] },
        healthUrl: `http://127.0.0.1:${port}/ready/${encodeURIComponent(d.id)}`,
        healthTimeoutSeconds: opts.healthTimeoutSeconds,
        probationSeconds: opts.probationSeconds,
        extraConfig: {
          localEndpoint: { port: 0 },
          mqtt: { url: opts.mqttUrl, pushJitterSeconds: 0, ...opts.mqtt },
          // info, not debug: twenty agents' logs are kept in this process.
          logLevel: "info",
        },
      });
      await d.device.writeConfig(config);
    }
    return fleet;
  }

  device(id: string): FleetDevice {
    const d = this.byId.get(id);
    if (!d) throw new Error(`no device ${id} in this fleet`);
    return d;
  }

  /**
   * Starts the agents one after another, each once the previous one's local
   * endpoint listens: Node start-up is the costly part (about 0.75 CPU-s each),
   * and twenty at once would queue on two cores.
   */
  async start(timeoutPerAgentMs = 60_000): Promise<void> {
    for (const d of this.devices) {
      const agent = d.device.startAgent();
      d.agent = agent;
      void agent.exited.then((e) => {
        d.exited = e;
      });
      const deadline = Date.now() + timeoutPerAgentMs;
      for (;;) {
        const line = agent.lines.find((l) => l.msg === "local endpoint listening");
        if (line) {
          d.statusUrl = `${String(line.url)}/status`;
          break;
        }
        this.assertRunning();
        if (Date.now() > deadline) throw new Error(`${d.id}'s local endpoint did not listen in time:\n${agent.dump()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** Each device's status JSON from its local endpoint (the same as `edge-agent status --json`). */
  async statuses(ids: string[] = this.devices.map((d) => d.id)): Promise<Map<string, StatusSnapshot>> {
    const out = new Map<string, StatusSnapshot>();
    await Promise.all(
      ids.map(async (id) => {
        const d = this.device(id);
        if (!d.statusUrl) throw new Error(`${id} has no local endpoint yet`);
        const res = await fetch(d.statusUrl, { signal: AbortSignal.timeout(10_000) });
        out.set(id, (await res.json()) as StatusSnapshot);
      }),
    );
    return out;
  }

  /**
   * Waits until `settled` holds for every device, asking only those not yet
   * settled each round, then returns one fresh status of every device. On time
   * out the error lists the devices still pending and what they report.
   */
  async waitAll(what: string, settled: (s: StatusSnapshot) => boolean, timeoutMs: number): Promise<Map<string, StatusSnapshot>> {
    const deadline = Date.now() + timeoutMs;
    let pending = this.devices.map((d) => d.id);
    let last = new Map<string, StatusSnapshot>();
    while (pending.length > 0) {
      this.assertRunning();
      last = await this.statuses(pending).catch(() => last);
      pending = pending.filter((id) => {
        const s = last.get(id);
        return s === undefined || !settled(s);
      });
      if (pending.length === 0) break;
      if (Date.now() > deadline) {
        const shown = pending.slice(0, 6).map((id) => describe(id, last.get(id)));
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${pending.length} pending: ${shown.join("; ")}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    return this.statuses();
  }

  /** Throws, with its last log lines, if any started agent has exited. */
  assertRunning(): void {
    for (const d of this.devices) {
      if (d.exited) {
        throw new Error(`agent ${d.id} exited (${d.exited.code ?? d.exited.signal}):\n${d.agent?.dump() ?? ""}`);
      }
    }
  }

  /** Stops the agents, the servers, clears what the run retained on the broker, removes the folder. */
  async close(): Promise<void> {
    await Promise.all(this.devices.map((d) => d.device.stopAgents()));
    await new Promise<void>((resolve) => this.readiness.close(() => resolve()));
    await this.repo.close();
    await clearRetained(this.opts.mqttUrl, [
      channelTopic(this.repo.name, this.repo.channel),
      ...this.devices.map((d) => deviceStatusTopic(d.id)),
    ]).catch(() => undefined);
    await rm(this.root, { recursive: true, force: true });
  }
}

function describe(id: string, s: StatusSnapshot | undefined): string {
  if (!s) return `${id}: no status`;
  return `${id}: ${s.activeVersion ?? "none"} ${s.phase}, last check ${JSON.stringify(s.lastCheck?.outcome ?? null)}`;
}

/**
 * `GET /ready/<deviceId>`: 200 with the version when the model the device's
 * `current` link points at loads and warms up, 503 with the reason otherwise.
 */
async function startReadinessServer(dataDirs: Map<string, string>): Promise<Server> {
  const server = createServer((req, res) => {
    const id = decodeURIComponent(/^\/ready\/([^/?]+)/.exec(req.url ?? "")?.[1] ?? "");
    const dataDir = dataDirs.get(id);
    const send = (status: number, body: object): void => {
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    };
    if (!dataDir) return send(404, { error: `no device ${JSON.stringify(id)}` });
    loadModel(join(dataDir, "current"))
      .then((model) => {
        warmUp(model);
        send(200, { status: "ready", version: model.version });
      })
      .catch((err: Error) => send(503, { error: err.message }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

/** A shared broker (MQTT_URL) keeps retained messages forever: leave nothing of this run behind. */
async function clearRetained(url: string, topics: string[]): Promise<void> {
  const client = await mqtt.connectAsync(url, {
    clientId: `edgepull-test-fleet-${randomBytes(4).toString("hex")}`,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  try {
    for (const topic of topics) await client.publishAsync(topic, Buffer.alloc(0), { qos: 1, retain: true });
  } finally {
    await client.endAsync();
  }
}
