import { Agent, type OutgoingHttpHeaders, request } from "node:http";
import { BoundedCopy } from "./bounded-copy.js";
import type { DropReason, ShadowAnswer } from "./compare.js";

/** Where mirrored requests go: the candidate version's process on loopback. */
export interface ShadowCandidate {
  version: string;
  host: string;
  port: number;
}

export interface MirrorJob {
  method: string;
  path: string;
  headers: OutgoingHttpHeaders;
  body: Buffer;
  /** Called exactly once: the candidate's answer, or why there is none. */
  done: (result: ShadowAnswer | DropReason) => void;
}

export interface MirrorLimits {
  concurrency: number;
  queueSize: number;
  /** From submission: queue wait and the candidate's answer together. */
  timeoutMs: number;
  maxBodyBytes: number;
}

interface Queued {
  job: MirrorJob;
  submittedAt: number;
}

/**
 * Sends mirrored requests to the candidate, at most `concurrency` at once and
 * `queueSize` waiting, each given up after `timeoutMs`. It has its own
 * keep-alive pool, so a slow or hung candidate holds only its own sockets,
 * never the serving version's or a client's.
 */
export class MirrorQueue {
  private readonly agent: Agent;
  private readonly waiting: Queued[] = [];
  private active = 0;
  private stopped = false;

  constructor(
    private readonly candidate: ShadowCandidate,
    private readonly limits: MirrorLimits,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: limits.concurrency });
  }

  /** False when the queue is full or stopped: the request is not mirrored. */
  submit(job: MirrorJob): boolean {
    if (this.stopped) return false;
    const queued = { job, submittedAt: performance.now() };
    if (this.active < this.limits.concurrency) this.send(queued);
    else if (this.waiting.length < this.limits.queueSize) this.waiting.push(queued);
    else return false;
    return true;
  }

  /** Gives up every waiting and in-flight request (each job is told `candidateError`) and closes the pool. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const { job } of this.waiting.splice(0)) job.done("candidateError");
    this.agent.destroy();
  }

  private next(): void {
    while (!this.stopped && this.active < this.limits.concurrency) {
      const queued = this.waiting.shift();
      if (!queued) return;
      this.send(queued);
    }
  }

  private send({ job, submittedAt }: Queued): void {
    const left = this.limits.timeoutMs - (performance.now() - submittedAt);
    if (left <= 0) {
      job.done("candidateTimeout");
      return;
    }
    this.active++;
    const started = performance.now();
    const { host, port } = this.candidate;
    const req = request({ host, port, method: job.method, path: job.path, headers: job.headers, agent: this.agent });
    let settled = false;
    const settle = (result: ShadowAnswer | DropReason): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.active--;
      job.done(result);
      this.next();
    };
    const timer = setTimeout(() => {
      settle("candidateTimeout");
      req.destroy();
    }, left);
    req.on("response", (res) => {
      const copy = new BoundedCopy(this.limits.maxBodyBytes);
      res.on("data", (chunk: Buffer) => {
        copy.add(chunk);
        if (copy.overflowed) {
          settle("bodyTooLarge");
          res.destroy();
        }
      });
      res.on("end", () =>
        settle({ status: res.statusCode ?? 0, body: copy.body(), seconds: (performance.now() - started) / 1000 }),
      );
      res.on("error", () => settle("candidateError"));
      res.on("close", () => settle("candidateError"));
    });
    req.on("error", () => settle("candidateError"));
    req.end(job.body);
  }
}
