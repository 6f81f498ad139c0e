import type { IncomingMessage, OutgoingHttpHeaders } from "node:http";
import { endToEndHeaders } from "../hop-headers.js";
import { BoundedCopy } from "./bounded-copy.js";
import type { DropReason, ShadowAnswer } from "./compare.js";
import type { MirrorJob } from "./mirror-queue.js";

export interface TapSinks {
  /** The request body is whole and small enough: mirror it. False: not mirrored (queue full). */
  mirror: (job: MirrorJob) => boolean;
  /** Both answers are in. */
  compare: (serving: ShadowAnswer, candidate: ShadowAnswer) => void;
  drop: (reason: DropReason) => void;
}

/**
 * One sampled client request, watched from the side: the proxy pipes it to
 * the serving version and the answer back as always, while this keeps bounded
 * copies of the request body (to mirror) and of the serving answer (to
 * compare). It never pauses, delays or fails either stream; whatever goes
 * wrong on the shadow side ends in exactly one `drop`.
 */
export class ShadowTap {
  private readonly requestCopy: BoundedCopy;
  /** When the request body was whole: the serving and the candidate's time both count from there. */
  private requestEndedAt = performance.now();
  private requestWhole = false;
  private serving: ShadowAnswer | undefined;
  private candidate: ShadowAnswer | undefined;
  private mirrored = false;
  private settled = false;

  constructor(
    private readonly req: IncomingMessage,
    private readonly maxBodyBytes: number,
    private readonly sinks: TapSinks,
  ) {
    this.requestCopy = new BoundedCopy(maxBodyBytes);
    req.on("data", (chunk: Buffer) => this.requestCopy.add(chunk));
    req.once("end", () => this.requestEnded());
  }

  /** The serving version's answer has begun: copy it while it streams to the client. */
  servingResponse(upRes: IncomingMessage): void {
    const copy = new BoundedCopy(this.maxBodyBytes);
    const status = upRes.statusCode ?? 0;
    upRes.on("data", (chunk: Buffer) => copy.add(chunk));
    upRes.once("end", () => {
      if (copy.overflowed) {
        this.finish("bodyTooLarge");
        return;
      }
      this.serving = { status, body: copy.body(), seconds: Math.max(0, performance.now() - this.requestEndedAt) / 1000 };
      this.mirror();
    });
  }

  /**
   * The client's response is closed: a serving answer (or request body) not
   * whole by now never will be (proxy error, client gone mid-upload).
   */
  clientClosed(): void {
    if (!this.serving || !this.requestWhole) this.finish("servingIncomplete");
  }

  private requestEnded(): void {
    this.requestEndedAt = performance.now();
    this.requestWhole = true;
    if (this.requestCopy.overflowed) this.finish("bodyTooLarge");
    else this.mirror();
  }

  /**
   * Sent once the serving answer is whole, not beside it: on a device's few
   * cores the two versions would otherwise compute at the same moment, the
   * candidate slowing the very request the client waits for, and each
   * version's latency measuring the other's work as much as its own.
   */
  private mirror(): void {
    if (this.settled || this.mirrored || !this.requestWhole || !this.serving) return;
    this.mirrored = true;
    const body = this.requestCopy.body();
    const headers: OutgoingHttpHeaders = { ...endToEndHeaders(this.req.headers), "x-edgepull-shadow": "1" };
    if (body.length > 0 || this.req.headers["content-length"] !== undefined) headers["content-length"] = body.length;
    const accepted = this.sinks.mirror({
      method: this.req.method ?? "GET",
      path: this.req.url ?? "/",
      headers,
      body,
      done: (result) => {
        if (typeof result === "string") this.finish(result);
        else {
          this.candidate = result;
          this.compareIfBoth();
        }
      },
    });
    if (!accepted) this.finish("queueFull");
  }

  private compareIfBoth(): void {
    if (this.settled || !this.serving || !this.candidate) return;
    this.settled = true;
    this.sinks.compare(this.serving, this.candidate);
  }

  private finish(reason: DropReason): void {
    if (this.settled) return;
    this.settled = true;
    this.sinks.drop(reason);
  }
}
