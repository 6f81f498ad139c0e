import { type IncomingMessage, request, type ServerResponse } from "node:http";
import { setTimeout as delay } from "node:timers/promises";

/**
 * A request and an answer that stream in lockstep through a proxy: each side
 * sends its next chunk only once the other end has the previous one, so a
 * proxy that buffers a body whole (or holds a stream back) deadlocks instead
 * of passing.
 */
export class Lockstep {
  receivedByBackend = 0;
  receivedByClient = 0;

  constructor(
    readonly chunkBytes: number,
    readonly rounds: number,
  ) {}

  get totalBytes(): number {
    return this.chunkBytes * this.rounds;
  }

  /** The backend's side: read the request, then answer chunk by chunk as the client takes them. */
  readonly handler = (req: IncomingMessage, res: ServerResponse): void => {
    req.on("data", (c: Buffer) => (this.receivedByBackend += c.length));
    req.on("end", async () => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      for (let i = 1; i <= this.rounds; i++) {
        res.write(Buffer.alloc(this.chunkBytes, i));
        while (this.receivedByClient < i * this.chunkBytes) await delay(1);
      }
      res.end();
    });
  };

  /** The client's side: POST chunk by chunk as the backend takes them; resolves with the answer's byte count. */
  send(port: number, path = "/"): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, method: "POST", path, agent: false }, (res) => {
        res.on("data", (c: Buffer) => (this.receivedByClient += c.length));
        res.on("end", () => resolve(this.receivedByClient));
        res.on("error", reject);
      });
      req.on("error", reject);
      (async () => {
        for (let i = 1; i <= this.rounds; i++) {
          req.write(Buffer.alloc(this.chunkBytes, i));
          while (this.receivedByBackend < i * this.chunkBytes) await delay(1);
        }
        req.end();
      })().catch(reject);
    });
  }
}
