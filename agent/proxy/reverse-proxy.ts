import { Agent, createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ProxyCounters } from "./counters.js";
import { endToEndHeaders } from "./hop-headers.js";
import { type ShadowOptions, ShadowRun } from "./shadow/shadow-run.js";
import type { ShadowTap } from "./shadow/tap.js";

/** One version's process, reachable on loopback. */
export interface Backend {
  version: string;
  host: string;
  port: number;
}

/** No version takes requests: each is answered 503 with Retry-After (a restart-mode load). */
export interface LoadingMode {
  retryAfterSeconds: number;
  /** The version being loaded, for X-Model-Version; "none" when unknown. */
  version?: string;
}

export interface ProxyState {
  backend: Backend | null;
  loading: LoadingMode | null;
  /** Requests being served, by backendKey(). */
  inFlight: Record<string, number>;
}

export interface ReverseProxyOptions {
  /** A backend that sends nothing for this long is given up: 504 (or a cut response), counted as an error. */
  requestTimeoutMs: number;
  /** Called on backend changes and failures: the process entry logs them. */
  onEvent?: (event: string, fields: Record<string, unknown>) => void;
  /**
   * Requests in flight across every version above which a new one is answered 503 + Retry-After at
   * once: an overloaded device fails fast instead of holding a growing queue in the agent's memory.
   */
  maxInFlight?: number;
}

interface Slot {
  backend: Backend;
  key: string;
  /** Its own keep-alive pool: retiring a version closes exactly its sockets. */
  agent: Agent;
  inFlight: number;
  idle: Set<() => void>;
}

export function backendKey(b: Backend): string {
  return `${b.version}@${b.host}:${b.port}`;
}

/**
 * The HTTP/1.1 reverse proxy on the service's public port. Each request takes
 * the backend current when it arrives (one read of one field, so a swap is
 * atomic between requests: a request is never split across versions) and is
 * counted in flight on that backend until its response is done, which is what
 * drain() waits for. Bodies are piped both ways with backpressure, never
 * buffered.
 */
export class ReverseProxy {
  readonly server: Server;
  readonly counters = new ProxyCounters();
  private current: Slot | undefined;
  private loading: LoadingMode | undefined;
  private readonly slots = new Map<string, Slot>();
  private shadow: ShadowRun | undefined;

  constructor(private readonly opts: ReverseProxyOptions) {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return this.listenOn({ port, host });
  }

  /** On a port, or on a listening socket inherited as a file descriptor (systemd socket activation). */
  listenOn(target: { port: number; host: string } | { fd: number }): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(target, () => {
        this.server.off("error", reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** From the next request on, `backend` serves (and loading mode ends). */
  setBackend(backend: Backend): void {
    const key = backendKey(backend);
    let slot = this.slots.get(key);
    if (!slot) {
      slot = { backend, key, agent: new Agent({ keepAlive: true, scheduling: "lifo" }), inFlight: 0, idle: new Set() };
      this.slots.set(key, slot);
    }
    const before = this.current?.key;
    this.current = slot;
    this.loading = undefined;
    this.opts.onEvent?.("backend set", { backend, before });
    this.retireIdle();
  }

  /** From the next request on, nothing serves: 503 "no version is serving" (a first install rolled back). */
  clearBackend(): void {
    const before = this.current?.key;
    this.current = undefined;
    this.loading = undefined;
    this.opts.onEvent?.("backend cleared", { before });
    this.retireIdle();
  }

  /** From the next request on, every request is answered 503 + Retry-After; in-flight ones finish. */
  setLoading(mode: LoadingMode): void {
    this.loading = { ...mode };
    this.opts.onEvent?.("loading mode", { ...mode });
  }

  /**
   * From the next request on, a sample of requests is also mirrored to
   * `candidate` and its answers compared with the serving version's, until
   * the run's verdict or stop(). Clients are answered by the serving version
   * only; a run already going is stopped first.
   */
  startShadow(candidate: Backend, options: ShadowOptions): ShadowRun {
    this.shadow?.stop();
    const run = new ShadowRun(candidate, options, (ended) => {
      if (this.shadow === ended) this.shadow = undefined;
      this.opts.onEvent?.("shadow ended", { candidate, figures: ended.figures() });
    });
    this.shadow = run;
    this.opts.onEvent?.("shadow started", { candidate });
    return run;
  }

  state(): ProxyState {
    const inFlight: Record<string, number> = {};
    for (const slot of this.slots.values()) inFlight[slot.key] = slot.inFlight;
    return { backend: this.current ? { ...this.current.backend } : null, loading: this.loading ?? null, inFlight };
  }

  /** Resolves when `backend` has no request in flight, or after `timeoutMs` with how many were left. */
  drain(backend: Backend, timeoutMs: number): Promise<{ drained: boolean; inFlight: number }> {
    const slot = this.slots.get(backendKey(backend));
    if (!slot || slot.inFlight === 0) return Promise.resolve({ drained: true, inFlight: 0 });
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        slot.idle.delete(done);
        resolve({ drained: slot.inFlight === 0, inFlight: slot.inFlight });
      };
      const timer = setTimeout(done, timeoutMs);
      slot.idle.add(done);
    });
  }

  async close(): Promise<void> {
    this.shadow?.stop();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    for (const slot of this.slots.values()) slot.agent.destroy();
    this.slots.clear();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const slot = this.loading ? undefined : this.current;
    if (!slot) {
      this.reject(req, res);
      return;
    }
    if (this.opts.maxInFlight !== undefined && this.totalInFlight() >= this.opts.maxInFlight) {
      this.counters.rejected();
      req.resume();
      sendJson(
        res,
        503,
        { "retry-after": "1", "x-model-version": slot.backend.version },
        { error: `overloaded: ${this.opts.maxInFlight} requests in flight` },
      );
      return;
    }
    const started = performance.now();
    const version = slot.backend.version;
    const outcome = { error: false };
    const tap = this.shadow?.tap(req, slot.backend);
    slot.inFlight++;
    res.once("close", () => {
      tap?.clientClosed();
      slot.inFlight--;
      this.counters.record(version, { error: outcome.error, seconds: (performance.now() - started) / 1000 });
      if (slot.inFlight === 0) {
        for (const wake of [...slot.idle]) wake();
        if (slot !== this.current) this.retireIdle();
      }
    });
    this.forward(req, res, slot, outcome, 0, tap);
  }

  private forward(
    req: IncomingMessage,
    res: ServerResponse,
    slot: Slot,
    outcome: { error: boolean },
    tries: number,
    tap?: ShadowTap,
  ): void {
    const { backend } = slot;
    const headers = endToEndHeaders(req.headers);
    const peer = req.socket.remoteAddress;
    if (peer) headers["x-forwarded-for"] = req.headers["x-forwarded-for"] ? `${req.headers["x-forwarded-for"]}, ${peer}` : peer;
    const up = request({ host: backend.host, port: backend.port, method: req.method, path: req.url, headers, agent: slot.agent });
    up.setTimeout(this.opts.requestTimeoutMs, () => {
      up.destroy(Object.assign(new Error(`no answer within ${this.opts.requestTimeoutMs} ms`), { code: "ETIMEDOUT" }));
    });
    up.on("response", (upRes) => {
      const status = upRes.statusCode ?? 502;
      if (status >= 500) outcome.error = true;
      const out = endToEndHeaders(upRes.headers);
      out["x-model-version"] = backend.version;
      res.writeHead(status, upRes.statusMessage, out);
      tap?.servingResponse(upRes);
      upRes.pipe(res);
      upRes.on("error", () => res.destroy());
    });
    up.on("error", (err: NodeJS.ErrnoException) => {
      if (res.destroyed) return;
      // A keep-alive socket the backend closed as we reused it: nothing reached it, so a bodiless request is safely sent again.
      if (tries === 0 && up.reusedSocket && err.code === "ECONNRESET" && bodiless(req) && !res.headersSent) {
        this.forward(req, res, slot, outcome, 1, tap);
        return;
      }
      outcome.error = true;
      this.opts.onEvent?.("backend failed", { backend, code: err.code, message: err.message });
      if (res.headersSent) {
        res.destroy(err);
        return;
      }
      const status = err.code === "ETIMEDOUT" ? 504 : 502;
      sendJson(res, status, { "x-model-version": backend.version }, { error: `version ${backend.version}: ${err.message}` });
    });
    // The client went away: so does the backend request (its socket is not reused half-read).
    res.once("close", () => {
      if (!res.writableFinished) up.destroy();
    });
    if (bodiless(req)) up.end();
    else req.pipe(up);
  }

  private reject(req: IncomingMessage, res: ServerResponse): void {
    this.counters.rejected();
    req.resume();
    const loading = this.loading;
    const retryAfter = String(loading?.retryAfterSeconds ?? 1);
    const why = loading ? `version ${loading.version ?? "(unknown)"} is loading` : "no version is serving yet";
    sendJson(res, 503, { "retry-after": retryAfter, "x-model-version": loading?.version ?? "none" }, { error: why });
  }

  private totalInFlight(): number {
    let total = 0;
    for (const slot of this.slots.values()) total += slot.inFlight;
    return total;
  }

  /** Backends neither current nor busy give their keep-alive sockets back. */
  private retireIdle(): void {
    for (const [key, slot] of this.slots) {
      if (slot === this.current || slot.inFlight > 0) continue;
      slot.agent.destroy();
      this.slots.delete(key);
    }
  }
}

function bodiless(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return (length === undefined || length === "0") && req.headers["transfer-encoding"] === undefined;
}

function sendJson(res: ServerResponse, status: number, headers: Record<string, string>, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
