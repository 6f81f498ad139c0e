import { unlink } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { toEdgeError } from "../../shared/errors.js";
import type { Logger } from "../logging.js";

/**
 * A local socket the technician's CLI uses to ask the running daemon to act
 * (`check`, `rollback`), so two processes never change the device at once.
 * Filesystem permissions on the data folder decide who may ask.
 */
export type ControlHandler = () => Promise<unknown>;

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
      req.resume();
      if (!handler) {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { code: "USAGE", message: `no such control route ${req.method} ${req.url}` } }));
        return;
      }
      this.logger.info({ route: req.url }, "control request");
      handler().then(
        (result) => {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ result }));
        },
        (thrown) => {
          const err = toEdgeError(thrown);
          res.writeHead(409, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: { code: err.code, message: err.message } }));
        },
      );
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
