import { createServer, type Server } from "node:http";
import { basename } from "node:path";
import type { Clock, DiskProbe, DiskSpace, MemoryProbe } from "../../agent/ports.js";
import type { ServiceController, ServiceDescription } from "../../agent/service/controller.js";
import { EdgeError } from "../../shared/errors.js";

/**
 * Stand-ins for the update core's ports (agent/ports.ts), for whole attempts
 * run in-process. Each records what was asked of it, so a test can say what
 * the core did without reading its insides.
 */

/**
 * A clock that moves only when slept on: each sleep advances it at once (the
 * attempt never waits in real time), or, while held, waits until released or
 * aborted, so a test can act on an attempt caught waiting.
 */
export class FakeClock implements Clock {
  readonly slept: number[] = [];
  private held = false;
  private waiters: (() => void)[] = [];
  private sleepers: (() => void)[] = [];

  constructor(private time: number) {}

  now(): Date {
    return new Date(this.time);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      this.slept.push(ms);
      const wake = (): void => {
        signal?.removeEventListener("abort", onAbort);
        this.time += ms;
        resolve();
      };
      const onAbort = (): void => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      for (const notify of this.sleepers.splice(0)) notify();
      if (this.held) this.waiters.push(wake);
      else setImmediate(wake);
    });
  }

  /** Moves the clock to `date` (forwards or back, as a device clock set by NTP may). */
  set(date: Date): void {
    this.time = date.getTime();
  }

  /** Sleeps from now on wait for release() (or their signal). */
  hold(): void {
    this.held = true;
  }

  /** Lets every held sleep end (each advances the clock by its own length), and sleeps no longer wait. */
  release(): void {
    this.held = false;
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Resolves at the next sleep. */
  nextSleep(): Promise<void> {
    return new Promise((resolve) => this.sleepers.push(resolve));
  }
}

/** Free space as the test sets it; every call is counted. */
export class FakeDisk implements DiskProbe {
  calls = 0;
  constructor(public availableBytes = 1024 ** 4) {}

  async spaceFor(_path: string): Promise<DiskSpace> {
    this.calls++;
    return { mount: "/fake-disk", availableBytes: this.availableBytes, sizeBytes: 2 * 1024 ** 4 };
  }
}

/** Available memory as the test sets it, or a probe that fails (a plain Error, as a broken probe would throw). */
export class FakeMemory implements MemoryProbe {
  calls = 0;
  constructor(public available: number | Error = 8 * 1024 ** 3) {}

  async availableBytes(): Promise<number> {
    this.calls++;
    if (this.available instanceof Error) throw this.available;
    return this.available;
  }
}

/**
 * A service that "runs" the version it was last restarted on and answers a
 * real loopback health URL for it: 200 unless that version is unhealthy, 503
 * while unhealthy or stopped. A restart fails for versions in `failRestart`;
 * crash() ends it as a crashed process would.
 */
export class FakeService implements ServiceController {
  readonly restarts: string[] = [];
  readonly failRestart = new Set<string>();
  readonly unhealthy = new Set<string>();
  stops = 0;
  running: string | undefined;
  private crash = new AbortController();

  private constructor(
    private readonly server: Server,
    readonly healthUrl: string,
  ) {}

  static async start(): Promise<FakeService> {
    let self: FakeService | undefined;
    const server = createServer((_req, res) => {
      const v = self?.running;
      res.statusCode = v !== undefined && !self?.unhealthy.has(v) ? 200 : 503;
      res.end(v ?? "stopped");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    self = new FakeService(server, `http://127.0.0.1:${port}/ready`);
    return self;
  }

  async restart(modelDir: string): Promise<undefined> {
    const version = basename(modelDir);
    this.restarts.push(version);
    this.running = undefined;
    if (this.failRestart.has(version)) throw new EdgeError("RESTART_FAILED", `fake service refuses to start ${version}`);
    this.crash = new AbortController();
    this.running = version;
    return undefined;
  }

  async stop(): Promise<void> {
    this.stops++;
    this.running = undefined;
  }

  crashSignal(): AbortSignal {
    return this.crash.signal;
  }

  /** The service exits on its own. */
  crashNow(): void {
    this.running = undefined;
    this.crash.abort(new EdgeError("SERVICE_CRASHED", "the fake service exited with code 1"));
  }

  describe(): ServiceDescription {
    return { mode: "command", running: this.running !== undefined, restarts: this.restarts.length };
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
