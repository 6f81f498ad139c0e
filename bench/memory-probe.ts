import { appendFileSync } from "node:fs";
import { constants, PerformanceObserver } from "node:perf_hooks";
import v8 from "node:v8";

/**
 * Preloaded into the soak bench's daemon (`node --import memory-probe.js`),
 * never part of the shipped agent: on SIGUSR2 it appends one JSON line of the
 * process's own V8 figures to the file named by EDGEPULL_MEMORY_PROBE, so the
 * bench can split the RSS it reads from /proc into V8 heap and the rest
 * without touching the product's code or its logs.
 * With EDGEPULL_MEMORY_PROBE_GC=1 (and node's --expose-gc) it runs a full GC
 * first, so heapUsed is what is still alive; that changes the run's own
 * memory behaviour, so the bench only does it when asked.
 */

export interface ProbeLine {
  /** The count of SIGUSR2 seen, so the bench can wait for its own answer. */
  seq: number;
  rssKiB: number;
  heapUsedKiB: number;
  heapTotalKiB: number;
  externalKiB: number;
  arrayBuffersKiB: number;
  /** Pages V8 has committed for its heap (all spaces), and for code alone. */
  heapPhysicalKiB: number;
  codeSpaceKiB: number;
  /** Heap used right after the most recent mark-compact GC that V8 ran on its own. */
  heapUsedAfterMajorGcKiB: number;
  majorGcs: number;
  /** True when a full GC was forced just before these figures. */
  forcedGc: boolean;
}

const out = process.env.EDGEPULL_MEMORY_PROBE;
const forceGc = process.env.EDGEPULL_MEMORY_PROBE_GC === "1";
const kib = (bytes: number): number => Math.round(bytes / 1024);

if (out) {
  let seq = 0;
  let majorGcs = 0;
  let afterMajor = Number.NaN;
  // Entries arrive just after each GC: the heap then is the live set plus the little allocated since.
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if ((entry as { detail?: { kind?: number } }).detail?.kind !== constants.NODE_PERFORMANCE_GC_MAJOR) continue;
      majorGcs++;
      afterMajor = v8.getHeapStatistics().used_heap_size;
    }
  }).observe({ entryTypes: ["gc"] });
  const gc = (globalThis as { gc?: () => void }).gc;
  process.on("SIGUSR2", () => {
    seq++;
    if (forceGc && gc) gc();
    const m = process.memoryUsage();
    const code = v8.getHeapSpaceStatistics().find((s) => s.space_name === "code_space");
    const line: ProbeLine = {
      seq,
      rssKiB: kib(m.rss),
      heapUsedKiB: kib(m.heapUsed),
      heapTotalKiB: kib(m.heapTotal),
      externalKiB: kib(m.external),
      arrayBuffersKiB: kib(m.arrayBuffers),
      heapPhysicalKiB: kib(v8.getHeapStatistics().total_physical_size),
      codeSpaceKiB: kib(code?.physical_space_size ?? 0),
      heapUsedAfterMajorGcKiB: kib(afterMajor),
      majorGcs,
      forcedGc: forceGc && gc !== undefined,
    };
    appendFileSync(out, `${JSON.stringify(line)}\n`);
  });
}
