import { spawn } from "node:child_process";
import { freePort, median, rssKiB, SERVICE_BIN } from "./common.js";
import { type LoadOptions, measureCapacity, OpenLoad, type Shot } from "./open-load.js";
import { latencies } from "./switch-figures.js";

async function untilReady(port: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const ok = await fetch(`http://127.0.0.1:${port}/ready`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`the example service on port ${port} was not ready within ${timeoutMs} ms`);
}

export interface Capacity {
  keepAlive: number;
  newConnection: number;
}

/** Answered /predict per second on `port` at saturation, keep-alive and with a new connection per request. */
export async function portCapacity(port: number, seconds: number): Promise<Capacity> {
  // Sixteen clients keep the one event loop busy; more only lengthen its queue.
  const keepAlive = await measureCapacity(port, { keepAlive: true, seconds, concurrency: 16 });
  const newConnection = await measureCapacity(port, { keepAlive: false, seconds, concurrency: 16 });
  return { keepAlive: Math.round(keepAlive), newConnection: Math.round(newConnection) };
}

/** Max sustained answered /predict per second of one example service process, measured directly on its port. */
export async function serviceCapacity(modelDir: string, seconds: number): Promise<Capacity> {
  const port = await freePort();
  const child = spawn(process.execPath, [SERVICE_BIN], {
    env: { ...process.env, PORT: String(port), EDGEPULL_MODEL_DIR: modelDir },
    stdio: "ignore",
  });
  try {
    await untilReady(port, 20_000);
    return await portCapacity(port, seconds);
  } finally {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
}

async function runFor(opts: LoadOptions, ms: number): Promise<Shot[]> {
  const load = new OpenLoad(opts);
  load.start();
  await new Promise((r) => setTimeout(r, ms));
  return load.stop();
}

export interface ProxyOverhead {
  directP50Ms: number;
  proxiedP50Ms: number;
  addedP50Ms: number;
  directP99Ms: number;
  proxiedP99Ms: number;
}

/**
 * The same open load on the serving version's own loopback port and on the
 * proxy's public port, in alternating one-second slices (so other work on the
 * machine falls on both alike); the first slice of each is a warm-up.
 */
export async function proxyOverhead(
  directPort: number,
  proxyPort: number,
  load: Omit<LoadOptions, "port">,
  seconds: number,
): Promise<ProxyOverhead> {
  const direct: Shot[] = [];
  const proxied: Shot[] = [];
  const slices = Math.max(2, Math.round(seconds / 2));
  for (let i = 0; i <= slices; i++) {
    const d = await runFor({ ...load, port: directPort }, 1000);
    const p = await runFor({ ...load, port: proxyPort }, 1000);
    if (i === 0) continue;
    direct.push(...d);
    proxied.push(...p);
  }
  const a = latencies(direct);
  const b = latencies(proxied);
  const round = (v: number): number => Math.round(v * 1000) / 1000;
  return {
    directP50Ms: a.p50Ms,
    proxiedP50Ms: b.p50Ms,
    addedP50Ms: round(b.p50Ms - a.p50Ms),
    directP99Ms: a.p99Ms,
    proxiedP99Ms: b.p99Ms,
  };
}

/** The median of `samples` RSS readings one second apart, after `settleSeconds` of nothing, in MiB. */
export async function idleRssMiB(pid: number, settleSeconds: number, samples = 5): Promise<number> {
  await new Promise((r) => setTimeout(r, settleSeconds * 1000));
  const values: number[] = [];
  for (let i = 0; i < samples; i++) {
    values.push(rssKiB(pid));
    if (i < samples - 1) await new Promise((r) => setTimeout(r, 1000));
  }
  return Math.round((median(values) / 1024) * 10) / 10;
}
