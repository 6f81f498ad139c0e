import { access } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { EdgeError } from "../../shared/errors.js";
import type { AgentConfig } from "../config.js";
import { layoutFor } from "../install/layout.js";
import type { Logger } from "../logging.js";
import { openDbReadOnly } from "../state/db.js";
import { attemptTotals, type HandoverTotal, handoverTotals } from "../state/metrics-queries.js";
import { type MetricsAttempt, renderMetrics } from "./prometheus.js";
import { readStatus, type StatusSnapshot } from "./status-snapshot.js";

export interface LocalEndpointOptions {
  /** localEndpoint.host: loopback by default, since the status names the device, its versions and its errors. */
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  config: AgentConfig;
  agentVersion: string;
  logger: Logger;
  /** How long the readiness probe inside each snapshot may take; well under a scrape timeout. */
  probeTimeoutMs?: number;
  /** More families for /metrics, read at each scrape (the hand-over proxy's counters). */
  extraMetrics?: () => string;
}

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
const DEFAULT_PROBE_TIMEOUT_MS = 1000;

/**
 * The agent's optional local HTTP endpoint: `GET /status` (the same JSON as
 * `edge-agent status --json`; 200 when healthy, 503 when not, so a plain HTTP
 * check can watch the device) and `GET /metrics` (Prometheus). Every request
 * reads disk and the journal afresh, read-only, like the status CLI.
 */
export class LocalEndpoint {
  private server: Server | undefined;
  /** Concurrent requests share one snapshot, so a burst of scrapes probes the service once. */
  private inflight: Promise<StatusSnapshot> | undefined;

  constructor(private readonly opts: LocalEndpointOptions) {}

  async start(): Promise<{ url: string }> {
    if (this.server) throw new EdgeError("INTERNAL", "the local endpoint is already started");
    const host = this.opts.host;
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.opts.logger.error({ err, path: req.url }, "local endpoint request failed");
        if (!res.headersSent) send(res, req, 500, "text/plain; charset=utf-8", `${(err as Error).message}\n`);
        else res.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (cause: Error): void => {
        reject(
          new EdgeError(
            "CONFIG_INVALID",
            `the local endpoint cannot listen on ${host}:${this.opts.port} (config ${this.opts.config.configPath}): ${cause.message}`,
            { cause },
          ),
        );
      };
      server.once("error", onError);
      server.listen(this.opts.port, host, () => {
        server.off("error", onError);
        resolve();
      });
    });
    server.on("error", (err) => this.opts.logger.error({ err }, "local endpoint server error"));
    this.server = server;
    const { port } = server.address() as AddressInfo;
    const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
    this.opts.logger.info({ url }, "local endpoint listening");
    return { url };
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Keep-alive sockets of a scraper would otherwise hold close() open until they time out.
    server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://local").pathname;
    if (path !== "/status" && path !== "/metrics") {
      send(res, req, 404, "text/plain; charset=utf-8", `not found: ${path} (try /status or /metrics)\n`);
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      send(res, req, 405, "text/plain; charset=utf-8", `method ${req.method} not allowed on ${path}: use GET or HEAD\n`);
      return;
    }
    const status = await this.snapshot();
    if (path === "/status") {
      send(res, req, status.healthy ? 200 : 503, "application/json; charset=utf-8", `${JSON.stringify(status, null, 2)}\n`);
      return;
    }
    const { attempts, handovers } = await this.journalTotals();
    const extraText = this.opts.extraMetrics?.();
    send(
      res,
      req,
      200,
      METRICS_CONTENT_TYPE,
      renderMetrics({ status, attempts, handovers, agentVersion: this.opts.agentVersion, ...(extraText ? { extraText } : {}) }),
    );
  }

  private snapshot(): Promise<StatusSnapshot> {
    if (!this.inflight) {
      this.inflight = readStatus(this.opts.config, {
        probeTimeoutMs: this.opts.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS,
      }).finally(() => {
        this.inflight = undefined;
      });
    }
    return this.inflight;
  }

  /** Opened and closed per scrape, read-only: the daemon keeps the only writer. */
  private async journalTotals(): Promise<{ attempts: MetricsAttempt[]; handovers: HandoverTotal[] }> {
    const { dbPath } = layoutFor(this.opts.config.dataDir);
    const exists = await access(dbPath).then(
      () => true,
      () => false,
    );
    if (!exists) return { attempts: [], handovers: [] }; // the status already names the missing journal as a problem
    const db = openDbReadOnly(dbPath);
    try {
      return { attempts: attemptTotals(db), handovers: handoverTotals(db) };
    } finally {
      db.close();
    }
  }
}

function send(res: ServerResponse, req: IncomingMessage, status: number, contentType: string, body: string): void {
  const bytes = Buffer.from(body, "utf8");
  res.writeHead(status, {
    "content-type": contentType,
    "content-length": bytes.length,
    "cache-control": "no-store",
  });
  res.end(req.method === "HEAD" ? undefined : bytes);
}
