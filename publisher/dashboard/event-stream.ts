import type { ServerResponse } from "node:http";

/** Proxies and browsers drop a silent connection; a comment line this often keeps it open. */
export const KEEPALIVE_MS = 15_000;
/**
 * A page that stopped reading (a laptop asleep) would make the server buffer every update for it.
 * Past this much unsent, its stream is ended; the browser reconnects and starts from a fresh snapshot.
 */
export const MAX_UNSENT_BYTES = 8 * 1024 * 1024;

/**
 * The server-sent event streams of connected pages. Each message is
 * serialized once and written to every stream; a stream whose socket is
 * gone is dropped.
 */
export class EventStreams {
  private readonly clients = new Set<ServerResponse>();
  private readonly keepalive: NodeJS.Timeout;

  constructor(
    keepaliveMs = KEEPALIVE_MS,
    private readonly maxUnsentBytes = MAX_UNSENT_BYTES,
  ) {
    this.keepalive = setInterval(() => {
      for (const res of this.clients) res.write(": keepalive\n\n");
    }, keepaliveMs);
    this.keepalive.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** Starts a stream on `res`, sends `first` as its first message, keeps it until the client leaves. */
  open(res: ServerResponse, first: { event: string; data: unknown }): void {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-content-type-options": "nosniff",
    });
    // The browser reconnects after this long if the stream breaks (a dashboard restart).
    res.write("retry: 2000\n\n");
    res.write(frame(first.event, first.data));
    this.clients.add(res);
    res.on("close", () => this.clients.delete(res));
  }

  broadcast(event: string, data: unknown): void {
    if (this.clients.size === 0) return;
    const text = frame(event, data);
    for (const res of this.clients) {
      if (res.writableLength > this.maxUnsentBytes) {
        this.clients.delete(res);
        res.destroy();
      } else res.write(text);
    }
  }

  close(): void {
    clearInterval(this.keepalive);
    for (const res of this.clients) res.end();
    this.clients.clear();
  }
}

/** JSON never holds a raw newline, so one data line carries the whole message. */
function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
