import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { EdgeError } from "../../shared/errors.js";
import { listenError } from "../repo-server.js";
import { checkAuth } from "./dashboard-auth.js";
import { type DashboardListen, isLoopbackHost } from "./dashboard-options.js";
import type { DashboardState } from "./dashboard-state.js";
import type { EventStreams } from "./event-stream.js";
import type { StaticFile } from "./static-files.js";

export interface DashboardServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const SECURITY_HEADERS = {
  // Only this server's own files run: a device string that slipped into markup could not load or run anything.
  "content-security-policy":
    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

function send(res: ServerResponse, status: number, contentType: string, body: string | Buffer, head = false): void {
  res.writeHead(status, { ...SECURITY_HEADERS, "content-type": contentType, "content-length": Buffer.byteLength(body) });
  res.end(head ? undefined : body);
}

function sendJson(res: ServerResponse, status: number, value: unknown, head = false): void {
  send(res, status, "application/json; charset=utf-8", JSON.stringify(value), head);
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message } });
}

/** The Host header's name without its port ("[::1]:8080" gives "::1"). */
function hostName(header: string | undefined): string {
  if (!header) return "";
  if (header.startsWith("[")) return header.slice(1, header.indexOf("]"));
  return header.split(":")[0] ?? "";
}

/**
 * The dashboard's HTTP side, read-only: the page and uPlot, GET /api/snapshot,
 * GET /api/devices/ID/history and GET /api/events (server-sent events).
 */
export async function startDashboardServer(opts: {
  listen: DashboardListen;
  state: DashboardState;
  streams: EventStreams;
  files: Map<string, StaticFile>;
}): Promise<DashboardServer> {
  const { listen, state, streams, files } = opts;
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? "/", "http://dashboard.invalid");
    // Without a secret only loopback may ask: a web page elsewhere must not reach it by DNS rebinding.
    if (listen.auth.kind === "none" && !isLoopbackHost(hostName(req.headers.host))) {
      sendError(res, 403, "FORBIDDEN", "this dashboard answers only requests addressed to a loopback name");
      return;
    }
    const file = files.get(url.pathname);
    // With a token the page's own files (no fleet data in them) load without it; the page then sends it with each API call.
    const verdict = file && listen.auth.kind === "token" ? ({ ok: true } as const) : checkAuth(listen.auth, req, url);
    if (!verdict.ok) {
      if (verdict.challenge) res.setHeader("www-authenticate", verdict.challenge);
      sendError(res, 401, "UNAUTHORIZED", verdict.message);
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      sendError(res, 405, "METHOD_NOT_ALLOWED", `the dashboard is read-only: ${req.method ?? "?"} is not served`);
      return;
    }
    const head = req.method === "HEAD";
    if (file) {
      send(res, 200, file.contentType, file.body, head);
      return;
    }
    if (url.pathname === "/api/snapshot") {
      sendJson(res, 200, state.snapshot(), head);
      return;
    }
    if (url.pathname === "/api/events") {
      if (head) send(res, 200, "text/event-stream; charset=utf-8", "", true);
      else streams.open(res, { event: "snapshot", data: state.snapshot() });
      return;
    }
    const historyOf = /^\/api\/devices\/([^/]+)\/history$/.exec(url.pathname)?.[1];
    if (historyOf !== undefined) {
      let id: string;
      try {
        id = decodeURIComponent(historyOf);
      } catch {
        sendError(res, 400, "BAD_REQUEST", "the device id in the path is not valid percent-encoding");
        return;
      }
      const found = state.history(id);
      if (!found) {
        sendError(res, 404, "NOT_FOUND", `no device ${JSON.stringify(id)} in the fleet`);
        return;
      }
      sendJson(res, 200, found, head);
      return;
    }
    sendError(res, 404, "NOT_FOUND", `nothing at ${url.pathname}`);
  };
  const server: Server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    // As `serve` says it: a port another program holds is PORT_IN_USE; another listen failure (an address
    // this machine does not have) is the option's fault.
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "EADDRINUSE"
          ? listenError(err, listen.host, listen.port)
          : new EdgeError("USAGE", `cannot listen on ${listen.host}:${listen.port}: ${err.message}`, { cause: err }),
      ),
    );
    server.listen(listen.port, listen.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = listen.host.includes(":") ? `[${listen.host}]` : listen.host;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        streams.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
