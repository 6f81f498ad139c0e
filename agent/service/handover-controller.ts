import { basename } from "node:path";
import { EdgeError } from "../../shared/errors.js";
import type { FaultHook, MemoryProbe } from "../ports.js";
import { renderProxyCounters } from "../proxy/counters-text.js";
import { type Backend, ReverseProxy } from "../proxy/reverse-proxy.js";
import type { ShadowFigures, ShadowOptions } from "../proxy/shadow/shadow-run.js";
import { type Admission, type AdmissionPolicy, admit, memoryPressureAvg10, peakMemoryOf } from "./admission.js";
import type { RestartOutcome, ServiceController, ServiceDescription } from "./controller.js";
import { freeLoopbackPort } from "./free-port.js";
import { waitForReady } from "./health.js";
import { type FoundInstance, InstanceRecords } from "./instance-records.js";
import { killRecordedProcess } from "./orphan.js";
import { Supervisor, type SupervisorOptions } from "./supervisor.js";

export type ListenTarget = { fd: number } | { host: string; port: number };

export interface HandoverOptions {
  /** How each version's process runs: the service's command, folder, environment and stop timeout (its pid file is ours). */
  supervised: Omit<SupervisorOptions, "pidFile" | "logger">;
  logger: SupervisorOptions["logger"];
  /** <dataDir>/instances: what a later agent process needs to find the versions this one started. */
  instancesDir: string;
  listen: ListenTarget;
  /** service.handover.port: a URL on it goes through the proxy (with a systemd socket too). */
  publicPort: number;
  /** health.url's path (and query), asked of each version on its own port before it takes requests. */
  readyPath: string;
  readyTimeoutMs: number;
  readyIntervalMs: number;
  drainTimeoutMs: number;
  requestTimeoutMs: number;
  maxInFlight: number;
  retryAfterSeconds: number;
  admission: AdmissionPolicy;
  memory: MemoryProbe;
  /** Before the switch, the candidate's answers to mirrored requests are compared with the serving version's. */
  shadow?: ShadowOptions;
  fault?: FaultHook;
}

const LOOPBACK = "127.0.0.1";

/** One version's process on its own loopback port. */
interface Instance {
  version: string;
  modelDir: string;
  backend: Backend;
  supervisor: Supervisor;
}

/** A version a previous agent process started, found again through its records; it is never supervised again. */
interface Orphan extends FoundInstance {
  backend: Backend;
}

/**
 * Hand-over mode: the agent's reverse proxy owns the service's public port and
 * each version runs as its own supervised process on a loopback port. A new
 * version starts beside the serving one, must answer ready on its own port,
 * and takes requests from the next one on; the old one stays running as
 * standby until settle() (after probation) drains and stops it, so a rollback
 * in probation is a switch back. When memory is short (admission.ts), the
 * update restarts in place instead, with 503 + Retry-After while it loads.
 *
 * The listener is in this process, not a separate proxy process: a second
 * Node process would cost about as much memory as the agent itself. With
 * systemd's socket unit holding the port (`listen.fd`), connections that
 * arrive while the agent restarts wait in the kernel's queue, and the next
 * agent process serves them through the version the last one left running.
 */
export class HandoverController implements ServiceController {
  private readonly proxy: ReverseProxy;
  private readonly records: InstanceRecords;
  private listening: Promise<void> | undefined;
  private serving: Instance | undefined;
  private standby: Instance[] = [];
  private orphans: Orphan[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private readonly never = new AbortController().signal;

  constructor(private readonly opts: HandoverOptions) {
    this.records = new InstanceRecords(opts.instancesDir);
    this.proxy = new ReverseProxy({
      requestTimeoutMs: opts.requestTimeoutMs,
      maxInFlight: opts.maxInFlight,
      onEvent: (event, fields) => opts.logger.info({ ...fields, proxy: event }, `proxy: ${event}`),
    });
  }

  directUrl(url: string): string {
    const serving = this.serving;
    const direct = new URL(url);
    // Only what goes through the proxy: a service's separate metrics port is asked as it is.
    if (!serving || direct.port !== String(this.opts.publicPort)) return url;
    direct.protocol = "http:";
    direct.hostname = LOOPBACK;
    direct.port = String(serving.backend.port);
    return direct.toString();
  }

  proxyMetrics(): string {
    return renderProxyCounters(this.proxy.counters.snapshot());
  }

  recoverOrphans(): Promise<void> {
    return this.serial(async () => {
      // The records first: from the listener's first request on, it has a version to send it to.
      const found = await this.records.findLive();
      const servingPort = await this.records.servingPort();
      const serving = found.find((f) => f.port === servingPort);
      if (serving) {
        // Requests go on being answered by what the last agent process left serving until a version of ours takes over.
        this.proxy.setBackend(backendOf(serving));
        this.opts.logger.warn(
          { version: serving.version, port: serving.port, pid: serving.pid },
          "serving through the version a previous agent process started, until this one's own takes over",
        );
      }
      await this.ensureListening();
      for (const f of found) {
        if (f === serving) this.orphans.push({ ...f, backend: backendOf(f) });
        else await this.killOrphan(f);
      }
    });
  }

  restart(modelDir: string, opts: { signal?: AbortSignal } = {}): Promise<RestartOutcome> {
    return this.serial(async () => {
      await this.ensureListening();
      const current = this.serving;
      if (current && current.modelDir === modelDir && current.supervisor.describe().running) return { handover: "kept" };
      const back = this.standby.find((i) => i.modelDir === modelDir && i.supervisor.describe().running);
      if (back) return this.switchBack(back);

      const version = basename(modelDir);
      const previous = this.servingBackend();
      const admission = previous ? await this.admission(previous.pid) : undefined;
      const beside = previous !== undefined && admission?.admitted === true;
      if (!beside) {
        this.proxy.setLoading({ retryAfterSeconds: this.opts.retryAfterSeconds, version });
        if (previous) {
          this.opts.logger.warn(
            { from: previous.backend.version, to: version, admission },
            "hand-over skipped: restarting in place",
          );
          await this.stopServing();
        }
      } else {
        this.opts.logger.info({ from: previous.backend.version, to: version, admission: admission?.detail }, "starting beside");
      }

      const candidate = await this.startInstance(modelDir);
      this.opts.fault?.(`handover:candidate-started:${version}`);
      try {
        await waitForReady({
          url: `http://${LOOPBACK}:${candidate.backend.port}${this.opts.readyPath}`,
          timeoutMs: this.opts.readyTimeoutMs,
          intervalMs: this.opts.readyIntervalMs,
          signal: opts.signal ?? this.never,
          crash: candidate.supervisor.crashSignal(),
        });
      } catch (err) {
        // Only the candidate goes: whatever served before still does (or, restarting in place, the 503s go on).
        await this.stopInstance(candidate);
        throw err;
      }
      this.opts.fault?.(`handover:ready:${version}`);
      const shadow = beside && this.opts.shadow ? await this.compareInShadow(candidate, opts.signal) : undefined;
      await this.switchTo(candidate);
      this.opts.fault?.(`handover:switched:${version}`);
      const older = this.standby;
      this.standby = beside && current ? [current] : [];
      for (const old of older) await this.retire(old);
      await this.retireOrphans();
      if (beside) return { handover: "switched", from: previous.backend.version, ...(shadow ? { shadow } : {}) };
      if (previous && admission && !admission.admitted) {
        return { handover: "skipped", reason: admission.reason, detail: admission.detail };
      }
      return { handover: "cold" };
    });
  }

  settle(): Promise<void> {
    return this.serial(async () => {
      if (this.standby.length > 0 && this.serving) this.opts.fault?.(`handover:draining:${this.serving.version}`);
      const standby = this.standby;
      this.standby = [];
      for (const old of standby) await this.retire(old);
    });
  }

  stop(): Promise<void> {
    return this.serial(async () => {
      this.proxy.clearBackend();
      await this.records.writeServing(undefined);
      const all = [...(this.serving ? [this.serving] : []), ...this.standby];
      this.serving = undefined;
      this.standby = [];
      for (const instance of all) await this.stopInstance(instance);
      for (const orphan of this.orphans.splice(0)) await this.killOrphan(orphan);
    });
  }

  async close(): Promise<void> {
    await this.stop();
    const listening = this.listening;
    this.listening = undefined;
    if (listening !== undefined) await this.proxy.close();
  }

  crashSignal(): AbortSignal {
    return this.serving?.supervisor.crashSignal() ?? this.never;
  }

  describe(): ServiceDescription {
    const own = this.serving?.supervisor.describe();
    const routed = this.proxy.state().backend;
    const orphan = this.orphans.find((o) => o.port === routed?.port);
    const serving = this.serving
      ? { version: this.serving.version, port: this.serving.backend.port, ...(own?.pid ? { pid: own.pid } : {}) }
      : orphan && { version: orphan.version, port: orphan.port, pid: orphan.pid };
    return {
      mode: "supervise",
      running: own?.running ?? orphan !== undefined,
      ...(own?.pid ? { pid: own.pid } : orphan ? { pid: orphan.pid } : {}),
      restarts: own?.restarts ?? 0,
      ...(own?.lastExit ? { lastExit: own.lastExit } : {}),
      handover: {
        listen:
          "fd" in this.opts.listen
            ? `fd ${this.opts.listen.fd} (systemd socket)`
            : `${this.opts.listen.host}:${this.opts.listen.port}`,
        ...(serving ? { serving } : {}),
        standby: this.standby.map((i) => ({ version: i.version, port: i.backend.port })),
      },
    };
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.queue.then(op, op);
    this.queue = next.catch(() => {});
    return next;
  }

  private ensureListening(): Promise<void> {
    this.listening ??= this.proxy.listenOn(this.opts.listen).then(
      (address) => this.opts.logger.info({ address }, "hand-over proxy listening"),
      (err: NodeJS.ErrnoException) => {
        this.listening = undefined;
        const where =
          "fd" in this.opts.listen
            ? `inherited socket fd ${this.opts.listen.fd}`
            : `${this.opts.listen.host}:${this.opts.listen.port}`;
        const code = err.code === "EADDRINUSE" ? "PORT_IN_USE" : "RESTART_FAILED";
        throw new EdgeError(code, `the hand-over proxy cannot listen on ${where}: ${err.message}`, { cause: err });
      },
    );
    return this.listening;
  }

  /** Who takes requests now: a version of ours, or one a previous agent process left serving. */
  private servingBackend(): { backend: Backend; pid: number | undefined } | undefined {
    if (this.serving) return { backend: this.serving.backend, pid: this.serving.supervisor.describe().pid };
    const routed = this.proxy.state().backend;
    const orphan = routed && this.orphans.find((o) => o.port === routed.port);
    return orphan ? { backend: orphan.backend, pid: orphan.pid } : undefined;
  }

  private async admission(pid: number | undefined): Promise<Admission> {
    const [servingPeakBytes, availableBytes, pressureAvg10] = await Promise.all([
      pid === undefined ? Promise.resolve(undefined) : peakMemoryOf(pid),
      this.opts.memory.availableBytes(),
      memoryPressureAvg10(),
    ]);
    return admit({ servingPeakBytes, availableBytes, pressureAvg10 }, this.opts.admission);
  }

  private async startInstance(modelDir: string): Promise<Instance> {
    const port = await freeLoopbackPort();
    const version = basename(modelDir);
    const { supervised, logger } = this.opts;
    const supervisor = new Supervisor({
      ...supervised,
      logger,
      pidFile: this.records.pidFile(port),
      env: { ...supervised.env, EDGEPULL_PORT: String(port), PORT: String(port) },
    });
    await this.records.write({ version, modelDir, port });
    const instance: Instance = { version, modelDir, backend: { version, host: LOOPBACK, port }, supervisor };
    try {
      await supervisor.restart(modelDir);
    } catch (err) {
      await this.records.remove(port);
      throw err;
    }
    return instance;
  }

  /** SHADOW_MISMATCH (candidate stopped, nothing switched) unless its answers agree enough with the serving version's. */
  private async compareInShadow(candidate: Instance, signal: AbortSignal | undefined): Promise<ShadowFigures> {
    const options = this.opts.shadow as ShadowOptions;
    const run = this.proxy.startShadow(candidate.backend, options);
    this.opts.logger.info({ candidate: candidate.version, maxDurationSeconds: options.maxDurationSeconds }, "shadow comparison");
    try {
      const verdict = await run.verdict(signal ?? this.never);
      this.opts.logger.info({ candidate: candidate.version, ok: verdict.ok, figures: verdict.figures }, "shadow verdict");
      if (!verdict.ok) throw verdict.error;
      return verdict.figures;
    } catch (err) {
      await this.stopInstance(candidate);
      throw err;
    } finally {
      run.stop();
    }
  }

  private async switchTo(instance: Instance): Promise<void> {
    this.proxy.setBackend(instance.backend);
    await this.records.writeServing(instance.backend.port);
    this.serving = instance;
  }

  private async switchBack(back: Instance): Promise<RestartOutcome> {
    const failed = this.serving;
    this.standby = this.standby.filter((i) => i !== back);
    await this.switchTo(back);
    this.opts.logger.warn({ from: failed?.version, to: back.version }, "switched back to the version still running");
    if (failed) await this.retire(failed);
    return { handover: "switched-back", from: failed?.version ?? "none" };
  }

  private async stopServing(): Promise<void> {
    const current = this.serving;
    this.serving = undefined;
    if (current) await this.retire(current);
    await this.retireOrphans();
  }

  /** In-flight requests finish (up to the drain timeout), then the process stops; its files stay. */
  private async retire(instance: Instance): Promise<void> {
    const drained = await this.proxy.drain(instance.backend, this.opts.drainTimeoutMs);
    if (!drained.drained) {
      this.opts.logger.warn({ version: instance.version, inFlight: drained.inFlight }, "drain timed out; stopping it anyway");
    }
    await this.stopInstance(instance);
  }

  private async stopInstance(instance: Instance): Promise<void> {
    await instance.supervisor.stop();
    await this.records.remove(instance.backend.port);
    this.opts.logger.info({ version: instance.version, port: instance.backend.port }, "version stopped");
  }

  private async retireOrphans(): Promise<void> {
    for (const orphan of this.orphans.splice(0)) {
      await this.proxy.drain(orphan.backend, this.opts.drainTimeoutMs);
      await this.killOrphan(orphan);
    }
  }

  private async killOrphan(found: FoundInstance): Promise<void> {
    await killRecordedProcess(found.pidFile, this.opts.supervised.stopTimeoutMs, this.opts.logger, `version ${found.version}`);
    await this.records.remove(found.port);
  }
}

function backendOf(found: FoundInstance): Backend {
  return { version: found.version, host: LOOPBACK, port: found.port };
}
