#!/usr/bin/env node
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { Metrics } from "./metrics.js";
import { type LoadedModel, loadModel, predict, warmUp } from "./model.js";

/**
 * The example inference service the agent supervises. It loads the model in
 * EDGEPULL_MODEL_DIR and answers:
 *   GET  /health   200 while the process runs (liveness)
 *   GET  /ready    200 once the model is loaded and warmed up; 503 with the reason before,
 *                  and for good if loading failed (the process stays up, as a broken model would)
 *   POST /predict  {"input": number[]} -> {"version", "label", "scores"}
 *   GET  /metrics  Prometheus text
 * Env: EDGEPULL_PORT (the agent's choice in hand-over mode, before anything else), PORT (or --port,
 *   default 9208), EDGEPULL_MODEL_DIR, EXAMPLE_LOAD_DELAY_MS (simulates a slow model).
 * Logs one JSON line per event to stdout.
 */
const HOST = "127.0.0.1";
const DEFAULT_PORT = 9208;
const MAX_BODY_BYTES = 64 * 1024;
const ROUTES = new Set(["/health", "/ready", "/predict", "/metrics"]);

type State = { phase: "loading"; reason: string } | { phase: "failed"; reason: string } | { phase: "ready"; model: LoadedModel };

function log(level: "info" | "warn" | "error", event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level, event, ...fields })}\n`);
}

function portFrom(argv: string[], env: NodeJS.ProcessEnv): number {
  const i = argv.indexOf("--port");
  const flag = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith("--port="))?.slice("--port=".length);
  // In hand-over mode the agent picks each version's own port; a --port left in the command must not win.
  const raw = env.EDGEPULL_PORT || (flag ?? env.PORT);
  if (raw === undefined || raw === "") return DEFAULT_PORT;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    log("error", "bad_port", { value: raw });
    process.exit(2);
  }
  return port;
}

const metrics = new Metrics();
const modelDir = process.env.EDGEPULL_MODEL_DIR;
let state: State = { phase: "loading", reason: `loading the model from ${modelDir ?? "(EDGEPULL_MODEL_DIR unset)"}` };

function send(res: ServerResponse, route: string, code: number, body: unknown, type = "application/json"): void {
  metrics.countRequest(route, code);
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(code, { "content-type": type, "content-length": Buffer.byteLength(text) }).end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`body larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** Valid predictions asked of this process, counted for a fault model's fail_every. */
let predictions = 0;

async function handlePredict(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (state.phase !== "ready") {
    send(res, "/predict", 503, { error: `not ready: ${state.reason}` });
    return;
  }
  const model = state.model;
  let input: unknown;
  try {
    input = (JSON.parse(await readBody(req)) as { input?: unknown }).input;
  } catch (err) {
    send(res, "/predict", 400, { error: `body must be JSON {"input": number[]}: ${(err as Error).message}` });
    return;
  }
  if (
    !Array.isArray(input) ||
    input.length !== model.inputSize ||
    !input.every((v) => typeof v === "number" && Number.isFinite(v))
  ) {
    send(res, "/predict", 400, { error: `input must be ${model.inputSize} finite numbers` });
    return;
  }
  predictions++;
  if (model.failEvery !== undefined && predictions % model.failEvery === 0) {
    send(res, "/predict", 500, { error: `prediction ${predictions} failed (the model's fail_every is ${model.failEvery})` });
    return;
  }
  const { label, scores } = predict(model, input as number[]);
  send(res, "/predict", 200, { version: model.version, label, scores });
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  const route = ROUTES.has(path) ? path : "other";
  const method = path === "/predict" ? "POST" : "GET";
  if (route === "other") {
    send(res, route, 404, { error: `no route ${path}` });
    return;
  }
  if (req.method !== method && !(method === "GET" && req.method === "HEAD")) {
    res.setHeader("allow", method);
    send(res, route, 405, { error: `${path} takes ${method}` });
    return;
  }
  switch (path) {
    case "/health":
      send(res, route, 200, { status: "alive" });
      return;
    case "/ready":
      if (state.phase === "ready") send(res, route, 200, { status: "ready", version: state.model.version });
      else send(res, route, 503, { status: state.phase, reason: state.reason });
      return;
    case "/metrics":
      send(res, route, 200, metrics.render(), "text/plain; version=0.0.4");
      return;
    default:
      handlePredict(req, res).catch((err: Error) => {
        log("error", "predict_failed", { error: err.message });
        if (!res.headersSent) send(res, route, 500, { error: err.message });
      });
  }
}

async function load(): Promise<void> {
  const slow = Number(process.env.EXAMPLE_LOAD_DELAY_MS ?? 0);
  if (slow > 0) await delay(slow);
  if (!modelDir) throw new Error("EDGEPULL_MODEL_DIR is not set");
  const started = performance.now();
  const model = await loadModel(modelDir);
  const sample = warmUp(model);
  const seconds = (performance.now() - started) / 1000;
  metrics.modelLoaded(model.version, seconds);
  metrics.setReady(true);
  state = { phase: "ready", model };
  log("info", "ready", { version: model.version, modelDir, loadSeconds: seconds, warmUpLabel: sample.label });
}

const server = createServer(handle);
server.on("error", (err: NodeJS.ErrnoException) => {
  log("error", "listen_failed", { error: err.message, code: err.code });
  process.exit(1);
});
server.listen(portFrom(process.argv.slice(2), process.env), HOST, () => {
  const { port } = server.address() as AddressInfo;
  log("info", "listening", { host: HOST, port, modelDir, pid: process.pid });
  load().catch((err: Error) => {
    state = { phase: "failed", reason: `model failed to load: ${err.message}` };
    log("error", "model_load_failed", { modelDir, reason: state.reason });
  });
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    log("info", "stopping", { signal });
    server.close(() => process.exit(0));
    server.closeAllConnections();
    // A client that keeps a request open must not hold the shutdown up.
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
