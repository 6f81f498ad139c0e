import { Agent, request } from "node:http";

/** One prediction of an open-model load: when it was due, when it ended, and what came back. */
export interface Shot {
  /** Epoch ms (sub-ms resolution) the schedule said it was due; latency counts from here, not from when it went out. */
  dueMs: number;
  /** When it actually went out (a busy event loop sends late; the wrong-version check uses this). */
  sentMs: number;
  endMs: number;
  /** 0: no HTTP answer (see failure). */
  status: number;
  /** The version in the answer's body (the model's own word), else X-Model-Version; null when none. */
  version: string | null;
  /** "ECONNREFUSED", "ECONNRESET", "timeout", ...: why there was no answer. */
  failure?: string;
  /** A non-2xx answer's `error` field, shortened: tells the model's own 500s from a missing backend. */
  error?: string;
}

export interface LoadOptions {
  port: number;
  ratePerSecond: number;
  /** true: one keep-alive pool for every request; false: a new TCP connection per request (Connection: close). */
  keepAlive: boolean;
  timeoutMs: number;
}

const KEEP_ALIVE_SOCKETS = 128;
const BODY = JSON.stringify({ input: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] });
const HEADERS = { "content-type": "application/json", "content-length": String(Buffer.byteLength(BODY)) };

/** Epoch milliseconds with performance.now()'s resolution, comparable with the agent's log times. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

function predictOnce(port: number, agent: Agent | false, timeoutMs: number, dueMs: number): Promise<Shot> {
  return new Promise((resolve) => {
    let settled = false;
    const sentMs = nowMs();
    const done = (shot: Omit<Shot, "dueMs" | "sentMs" | "endMs">): void => {
      if (settled) return;
      settled = true;
      resolve({ dueMs, sentMs, endMs: nowMs(), ...shot });
    };
    const headers = agent ? HEADERS : { ...HEADERS, connection: "close" };
    const req = request({ host: "127.0.0.1", port, method: "POST", path: "/predict", headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", (err: NodeJS.ErrnoException) => done({ status: 0, version: null, failure: err.code ?? err.message }));
      res.on("end", () => {
        let version: string | null = null;
        let error: string | undefined;
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { version?: unknown; error?: unknown };
          if (typeof body.version === "string") version = body.version;
          if (typeof body.error === "string") error = body.error.slice(0, 120);
        } catch {
          // not JSON: the header below, if any
        }
        const header = res.headers["x-model-version"];
        const status = res.statusCode ?? 0;
        version ??= typeof header === "string" ? header : null;
        done({ status, version, ...(error !== undefined && status >= 300 ? { error } : {}) });
      });
    });
    // From when it was due, waiting for a pooled socket included: a request stuck in the client's queue is a timeout too.
    const deadline = setTimeout(
      () => req.destroy(Object.assign(new Error("timeout"), { code: "timeout" })),
      Math.max(1, dueMs + timeoutMs - nowMs()),
    );
    req.once("close", () => clearTimeout(deadline));
    req.on("error", (err: NodeJS.ErrnoException) => done({ status: 0, version: null, failure: err.code ?? err.message }));
    req.end(BODY);
  });
}

/**
 * An open-model load: request i is due at start + i / rate and goes out then,
 * whether or not the earlier ones have been answered, so a stalled server shows
 * as failures and latency rather than as fewer requests (a closed loop would
 * politely wait for it). A 1 ms tick sends every request that has come due.
 */
export class OpenLoad {
  readonly shots: Shot[] = [];
  private readonly pending = new Set<Promise<void>>();
  private readonly agent: Agent | false;
  private timer: NodeJS.Timeout | undefined;
  private sent = 0;

  constructor(private readonly opts: LoadOptions) {
    // A bounded pool: an overloaded server makes requests wait (and time out) instead of the client opening sockets until EMFILE.
    this.agent = opts.keepAlive ? new Agent({ keepAlive: true, maxSockets: KEEP_ALIVE_SOCKETS }) : false;
  }

  start(): void {
    const startMs = nowMs();
    const intervalMs = 1000 / this.opts.ratePerSecond;
    const tick = (): void => {
      const now = nowMs();
      for (let due = startMs + this.sent * intervalMs; due <= now; due = startMs + this.sent * intervalMs) {
        this.sent++;
        const shot = predictOnce(this.opts.port, this.agent, this.opts.timeoutMs, due).then((s) => {
          this.shots.push(s);
          this.pending.delete(shot);
        });
        this.pending.add(shot);
      }
    };
    this.timer = setInterval(tick, 1);
  }

  /** No more requests go out; resolves with every shot once those in flight have ended. */
  async stop(): Promise<Shot[]> {
    clearInterval(this.timer);
    await Promise.all([...this.pending]);
    if (this.agent) this.agent.destroy();
    return this.shots.sort((a, b) => a.dueMs - b.dueMs);
  }
}

/**
 * The service's capacity: answered /predict per second over `seconds`, with
 * `concurrency` clients each sending its next request as soon as the last one
 * is answered (a closed loop at saturation), after a short warm-up.
 */
export async function measureCapacity(
  port: number,
  opts: { keepAlive: boolean; seconds: number; concurrency: number },
): Promise<number> {
  const agent = opts.keepAlive ? new Agent({ keepAlive: true, maxSockets: opts.concurrency }) : false;
  const warmUntil = nowMs() + 500;
  const endAt = warmUntil + opts.seconds * 1000;
  let answered = 0;
  const client = async (): Promise<void> => {
    while (nowMs() < endAt) {
      const shot = await predictOnce(port, agent, 5000, nowMs());
      if (shot.status === 200 && shot.endMs > warmUntil && shot.endMs <= endAt) answered++;
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, client));
  if (agent) agent.destroy();
  return answered / opts.seconds;
}
