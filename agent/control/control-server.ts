import { unlink } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { toEdgeError } from "../../shared/errors.js";
import type { Logger } from "../logging.js";

/**
 * A local socket the technician's CLI uses to ask the running daemon to act
 * (`check`, `rollback`), so two processes never change the device at once.
 * Filesystem permissions on the data folder decide who may ask.
 */
export type ControlHandler = (body: Record<string, unknown>) => Promise<unknown>;

const MAX_BODY = 64 * 1024;

export class ControlServer {
  private server: Server | undefined;

  constructor(
    private readonly socketPath: string,
    private readonly routes: Record<string, ControlHandler>,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    await unlink(this.socketPath).catch(() => {});
    const server = createServer((req, res) => {
      const handler = req.method === "POST" ? this.routes[req.url ?? ""] : undefined;
      const reply = (status: number, value: unknown): void => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(value));
      };
      if (!handler) {
        req.resume();
        reply(404, { error: { code: "USAGE", message: `no such control route ${req.method} ${req.url}` } });
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on("data", (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY) chunks.push(c);
      });
      req.on("end", () => {
        let body: Record<string, unknown> = {};
        try {
          const text = Buffer.concat(chunks).toString("utf8");
          if (size > MAX_BODY) throw new Error("request body too large");
          if (text) body = JSON.parse(text) as Record<string, unknown>;
        } catch (err) {
          reply(400, { error: { code: "USAGE", message: `bad control request: ${(err as Error).message}` } });
          return;
        }
        this.logger.info({ route: req.url }, "control request");
        handler(body).then(
          (result) => reply(200, { result }),
          (thrown) => {
            const err = toEdgeError(thrown);
            reply(409, { error: { code: err.code, message: err.message } });
          },
        );
      });
    });
    // Long operations (a full update) run inside one request.
    server.requestTimeout = 0;
    server.headersTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.socketPath, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await unlink(this.socketPath).catch(() => {});
  }
}
