import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchResult } from "./common.js";
import {
  type Capacity,
  idleRssMiB,
  type ProxyOverhead,
  portCapacity,
  proxyOverhead,
  serviceCapacity,
} from "./handover-probes.js";
import { BenchDevice, createRepository, type ReleaseKind, type Repository, type Strategy } from "./handover-world.js";
import { startLoadProcess } from "./load-process.js";
import { OpenLoad } from "./open-load.js";
import { activeTimeline, type LoadFigures, loadFigures } from "./switch-figures.js";

export interface HandoverBenchOptions {
  /** Consecutive updates per strategy, spread evenly over the four loads. */
  updates: number;
  /** EXAMPLE_LOAD_DELAY_MS: how long each version's model takes to load. */
  loadDelayMs: number;
  capacitySeconds: number;
  overheadSeconds: number;
  settleSeconds: number;
  progress: (text: string) => void;
}

interface Condition {
  label: string;
  fraction: number;
  keepAlive: boolean;
}

const CONDITIONS: readonly Condition[] = [
  { label: "50% keep-alive", fraction: 0.5, keepAlive: true },
  { label: "50% new connection", fraction: 0.5, keepAlive: false },
  { label: "90% keep-alive", fraction: 0.9, keepAlive: true },
  { label: "90% new connection", fraction: 0.9, keepAlive: false },
];

const REQUEST_TIMEOUT_MS = 2000;

/** Update i (1-based) of the run: the bad ones sit in the middle, one in each of two loads. */
function kindOf(i: number, updates: number): ReleaseKind {
  if (i === Math.max(1, Math.round(updates * 0.4))) return "gate-fails";
  if (updates >= 3 && i === Math.max(2, Math.round(updates * 0.7))) return "validation-fails";
  return "good";
}

interface Block extends LoadFigures {
  strategy: Strategy;
  load: string;
  ratePerSecond: number;
  updates: { version: string; kind: ReleaseKind; result: string }[];
}

interface StrategyRun {
  blocks: Block[];
  /** The same closed-loop saturation as the service's capacity, through the proxy's public port (hand-over only). */
  proxyCapacity?: Capacity;
  /** An attempt that never ended: the updates after it were not run. */
  stalled?: string;
  idleRssBeforeMiB: number;
  idleRssAfterMiB: number;
  overhead?: { keepAlive: ProxyOverhead; newConnection: ProxyOverhead };
}

async function runStrategy(
  root: string,
  repo: Repository,
  strategy: Strategy,
  capacity: Capacity,
  opts: HandoverBenchOptions,
): Promise<StrategyRun> {
  const device = await BenchDevice.create(root, repo, { strategy, loadDelayMs: opts.loadDelayMs, probationSeconds: 2 });
  await repo.publish("1.0.0", strategy);
  device.start();
  // A trickle of requests through the first install gives its gate something to judge.
  const trickle = new OpenLoad({ port: device.publicPort, ratePerSecond: 50, keepAlive: true, timeoutMs: REQUEST_TIMEOUT_MS });
  trickle.start();
  try {
    await device.attemptEnded("1.0.0");
    await trickle.stop();
    opts.progress(`  ${strategy}: 1.0.0 installed; idle RSS for ${opts.settleSeconds} s...`);
    const idleRssBeforeMiB = await idleRssMiB(device.pid, opts.settleSeconds);
    let overhead: StrategyRun["overhead"];
    let proxyCapacity: Capacity | undefined;
    let stalled: string | undefined;
    if (strategy === "handover") {
      const set = device.lines.filter((l) => l.msg === "proxy: backend set").at(-1);
      const directPort = (set?.backend as { port?: number } | undefined)?.port;
      if (directPort === undefined) throw new Error("the hand-over agent logged no backend port");
      opts.progress(`  ${strategy}: proxy overhead, direct against proxied, ${opts.overheadSeconds} s each way per mode...`);
      const at = (keepAlive: boolean) => ({
        ratePerSecond: 0.5 * (keepAlive ? capacity.keepAlive : capacity.newConnection),
        keepAlive,
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
      overhead = {
        keepAlive: await proxyOverhead(directPort, device.publicPort, at(true), opts.overheadSeconds),
        newConnection: await proxyOverhead(directPort, device.publicPort, at(false), opts.overheadSeconds),
      };
      opts.progress(`  ${strategy}: capacity through the proxy...`);
      proxyCapacity = await portCapacity(device.publicPort, opts.capacitySeconds);
      opts.progress(`  proxy path: ${proxyCapacity.keepAlive}/s keep-alive, ${proxyCapacity.newConnection}/s new connection`);
    }
    const blocks: Block[] = [];
    let next = 1;
    for (const [b, condition] of CONDITIONS.entries()) {
      if (stalled) break;
      const until = Math.round(((b + 1) * opts.updates) / CONDITIONS.length);
      if (next > until) continue;
      const ratePerSecond = Math.round(condition.fraction * (condition.keepAlive ? capacity.keepAlive : capacity.newConnection));
      const load = startLoadProcess({
        port: device.publicPort,
        ratePerSecond,
        keepAlive: condition.keepAlive,
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
      const updates: Block["updates"] = [];
      for (; next <= until; next++) {
        const version = `1.0.${next}`;
        const kind = kindOf(next, opts.updates);
        await repo.publish(version, strategy);
        const result = await device.attemptEnded(version).catch((err: Error) => {
          stalled = `${version} under ${condition.label}: ${err.message}`;
          return "did not end";
        });
        updates.push({ version, kind, result });
        opts.progress(`  ${strategy} ${condition.label} ${ratePerSecond}/s: ${version} (${kind}) ${result}`);
        if (stalled) break;
      }
      // The last switch's second after it, and the old version's drain, under the same load.
      await new Promise((r) => setTimeout(r, 1500));
      const shots = await load.stop();
      const figures = loadFigures(shots, activeTimeline(device.lines, strategy), device.lines);
      blocks.push({ strategy, load: condition.label, ratePerSecond, updates, ...figures });
    }
    opts.progress(`  ${strategy}: idle RSS after the updates...`);
    const idleRssAfterMiB = await idleRssMiB(device.pid, opts.settleSeconds);
    return {
      blocks,
      idleRssBeforeMiB,
      idleRssAfterMiB,
      ...(overhead ? { overhead } : {}),
      ...(proxyCapacity ? { proxyCapacity } : {}),
      ...(stalled ? { stalled } : {}),
    };
  } finally {
    await trickle.stop();
    await device.stop();
  }
}

function totals(run: StrategyRun): { failed: number; wrong: number; faults: number; requests: number; kinds: string } {
  const kinds: Record<string, number> = {};
  for (const b of run.blocks) for (const [k, n] of Object.entries(b.failedByKind)) kinds[k] = (kinds[k] ?? 0) + (n ?? 0);
  const sum = (f: (b: Block) => number): number => run.blocks.reduce((a, b) => a + f(b), 0);
  return {
    failed: sum((b) => b.failed),
    wrong: sum((b) => b.wrongVersion),
    faults: sum((b) => b.modelFaults),
    requests: sum((b) => b.requests),
    kinds: Object.entries(kinds)
      .map(([k, n]) => `${k} ${n}`)
      .join(", "),
  };
}

function blockLine(b: Block): string {
  const s = b.aroundSwitch;
  return `  ${b.strategy.padEnd(8)} ${b.load.padEnd(19)} ${String(b.ratePerSecond).padStart(5)}/s  ${String(b.requests).padStart(6)} req  failed ${String(b.failed).padStart(5)}  wrong ${b.wrongVersion}  around ${b.switches} switches p50/p99/max ${s.p50Ms}/${s.p99Ms}/${s.maxMs} ms (failed ${s.failed})`;
}

/**
 * Restart against hand-over through the same consecutive updates under an
 * open-model load, on one machine in one run (see README, "Hand-over under load").
 */
export async function benchHandover(opts: HandoverBenchOptions): Promise<BenchResult> {
  const root = await mkdtemp(join(tmpdir(), "edgepull-bench-handover-"));
  const repo = await createRepository(root);
  try {
    opts.progress(`  building 1.0.0 and ${opts.updates} updates...`);
    await repo.build("1.0.0", "good");
    for (let i = 1; i <= opts.updates; i++) await repo.build(`1.0.${i}`, kindOf(i, opts.updates));
    opts.progress(`  capacity of one example service process, ${opts.capacitySeconds} s per connection mode...`);
    const capacity = await serviceCapacity(join(root, "models", "1.0.0"), opts.capacitySeconds);
    opts.progress(`  capacity: ${capacity.keepAlive}/s keep-alive, ${capacity.newConnection}/s new connection per request`);
    const restart = await runStrategy(root, repo, "restart", capacity, opts);
    const handover = await runStrategy(root, repo, "handover", capacity, opts);
    const r = totals(restart);
    const h = totals(handover);
    const pooled = (run: StrategyRun) => {
      // A load whose only update switched nothing (the failed validation) has no window: NaN, left out.
      const worst = (f: (b: Block) => number) => Math.max(...run.blocks.map(f).filter((v) => !Number.isNaN(v)));
      return `${worst((b) => b.aroundSwitch.p99Ms)}/${worst((b) => b.aroundSwitch.maxMs)}`;
    };
    const ka = handover.overhead?.keepAlive;
    const nc = handover.overhead?.newConnection;
    const lines = [...restart.blocks, ...handover.blocks].map(blockLine);
    return {
      name: "restart against hand-over under constant load",
      summary: [
        `${opts.updates} updates per strategy (one gate failure after the switch, one failed validation), model load ${opts.loadDelayMs} ms;`,
        `failed requests: restart ${r.failed} of ${r.requests} (${r.kinds || "none"}), hand-over ${h.failed} of ${h.requests} (${h.kinds || "none"});`,
        `capacity of the service ${capacity.keepAlive}/s keep-alive, ${capacity.newConnection}/s new connection; through the proxy ${handover.proxyCapacity?.keepAlive}/s, ${handover.proxyCapacity?.newConnection}/s;`,
        ...[restart.stalled, handover.stalled].filter(Boolean).map((s) => `stalled: ${s}`),
        `proxy adds p50 ${ka?.addedP50Ms} ms keep-alive, ${nc?.addedP50Ms} ms new connection; idle RSS restart ${restart.idleRssBeforeMiB} MiB, hand-over ${handover.idleRssBeforeMiB} MiB`,
        ...lines,
      ].join("\n"),
      figures: {
        updatesPerStrategy: opts.updates,
        loadDelayMs: opts.loadDelayMs,
        capacityKeepAlivePerSecond: capacity.keepAlive,
        capacityNewConnectionPerSecond: capacity.newConnection,
        restartRequests: r.requests,
        restartFailed: r.failed,
        restartFailedByKind: r.kinds || "none",
        restartWrongVersion: r.wrong,
        restartModelFaults: r.faults,
        restartWorstAroundSwitchP99MaxMs: pooled(restart),
        handoverRequests: h.requests,
        handoverFailed: h.failed,
        handoverFailedByKind: h.kinds || "none",
        handoverWrongVersion: h.wrong,
        handoverModelFaults: h.faults,
        handoverWorstAroundSwitchP99MaxMs: pooled(handover),
        proxyCapacityKeepAlivePerSecond: handover.proxyCapacity?.keepAlive ?? "n/a",
        proxyCapacityNewConnectionPerSecond: handover.proxyCapacity?.newConnection ?? "n/a",
        stalled: [restart.stalled, handover.stalled].filter(Boolean).join("; ") || "none",
        proxyAddedP50KeepAliveMs: ka?.addedP50Ms ?? "n/a",
        proxyAddedP50NewConnectionMs: nc?.addedP50Ms ?? "n/a",
        idleRssRestartMiB: restart.idleRssBeforeMiB,
        idleRssHandoverMiB: handover.idleRssBeforeMiB,
        idleRssAfterUpdatesRestartMiB: restart.idleRssAfterMiB,
        idleRssAfterUpdatesHandoverMiB: handover.idleRssAfterMiB,
      },
      rows: [...restart.blocks, ...handover.blocks, { proxyOverhead: handover.overhead }],
    };
  } finally {
    await repo.close();
    await rm(root, { recursive: true, force: true });
  }
}
