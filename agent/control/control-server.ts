import { unlink } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { toEdgeError } from "../../shared/errors.js";
import type { Logger } from "../logging.js";
import type { ControlHandlers, ControlReply, RequestParsers } from "./envelope.js";

/**
 * A local socket the technician's CLI uses to ask the running daemon to act
 * (`check`, `rollback`), so two processes never change the device at once.
 * Filesystem permissions on the data folder decide who may ask.
 */
const MAX_BODY = 64 * 1024;

type Route = { parse: (body: Record<string, unknown>) => unknown; handle: (request: unknown) => Promise<unknown> };

export class ControlServer<R> {
  private server: Server | undefined;
  private readonly routes = new Map<string, Route>();

  /** `parsers` and `handlers` are keyed by the same route table `R`: a route missing from either does not compile. */
  constructor(
    private readonly socketPath: string,
    parsers: RequestParsers<R>,
    handlers: ControlHandlers<R>,
    private readonly logger: Logger,
  ) {
    for (const path of Object.keys(parsers) as (keyof R & string)[]) {
      this.routes.set(path, { parse: parsers[path], handle: handlers[path] as Route["handle"] });
    }
  }

  async start(): Promise<void> {
    await unlink(this.socketPath).catch(() => {});
    const server = createServer((req, res) => {
      const route = req.method === "POST" ? this.routes.get(req.url ?? "") : undefined;
      const reply = (status: number, value: ControlReply<unknown>): void => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(value));
      };
      if (!route) {
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
        let request: unknown;
        try {
          const text = Buffer.concat(chunks).toString("utf8");
          if (size > MAX_BODY) throw new Error("request body too large");
          const body: unknown = text ? JSON.parse(text) : {};
          if (typeof body !== "object" || body === null || Array.isArray(body)) throw new Error("the body must be a JSON object");
          request = route.parse(body as Record<string, unknown>);
        } catch (err) {
          reply(400, { error: { code: "USAGE", message: `bad control request: ${(err as Error).message}` } });
          return;
        }
        this.logger.info({ route: req.url }, "control request");
        route.handle(request).then(
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
