import { type BenchResult, median } from "./common.js";
import { journalGrowth, runSoak, type SoakSample } from "./soak.js";

/** Seconds the bench watches the daemon idle after the last cycle: V8 gave its young generation back after about 100. */
export const SOAK_IDLE_SECONDS = 150;

const mib = (kib: number | undefined): number => Number(((kib ?? Number.NaN) / 1024).toFixed(1));
const signed = (kib: number): string => `${kib >= 0 ? "+" : ""}${mib(kib)}`;

/**
 * Where the RSS change between two samples went: the brk heap (glibc's main arena: SQLite,
 * the addons, Buffers under malloc's mmap threshold), the other anonymous mappings (V8's heap
 * pages, malloc's mmap'd blocks, stacks) and file-backed pages (node's binary and libraries).
 */
function composition(from: SoakSample, to: SoakSample): string {
  return (
    `brk heap ${signed(to.brkHeapKiB - from.brkHeapKiB)}, other anonymous ${signed(to.anonMappingsKiB - from.anonMappingsKiB)}, ` +
    `file-backed ${signed(to.rssFileKiB - from.rssFileKiB)} MiB`
  );
}

export async function benchSoak(
  cycles: number,
  progress: (text: string) => void,
  idleSeconds = SOAK_IDLE_SECONDS,
): Promise<BenchResult> {
  const run = await runSoak({ cycles, progress, idleSeconds });
  const at = (cycle: number): SoakSample | undefined => run.samples.find((s) => s.cycle === cycle);
  const base = at(Math.min(50, cycles));
  const last = run.samples.at(-1);
  const idle = run.idle.at(-1);
  const growth = journalGrowth(run.samples);
  const fds = run.samples.map((s) => s.fds);
  const change = (a: SoakSample | undefined, b: SoakSample | undefined): number =>
    a && b ? (b.rssKiB / a.rssKiB - 1) * 100 : Number.NaN;
  const rssChange = change(base, last);
  const whereTo = base && last ? `; of the change: ${composition(base, last)}` : "";
  const v8 =
    base && last
      ? `V8 heap after its last major GC ${mib(base.heapUsedAfterMajorGcKiB)} -> ${mib(last.heapUsedAfterMajorGcKiB)} MiB, ` +
        `heap reserved ${mib(base.heapTotalKiB)} -> ${mib(last.heapTotalKiB)} MiB`
      : "";
  const idleText =
    idle && last
      ? `; after ${idle.seconds} s idle RSS ${mib(idle.sample.rssKiB)} MiB (${change(base, idle.sample).toFixed(1)} % against cycle ${base?.cycle}; ` +
        `${composition(last, idle.sample)} against the last cycle)`
      : "";
  return {
    name: `soak: one daemon through ${cycles} update and rollback cycles`,
    summary:
      `RSS ${mib(base?.rssKiB)} MiB after cycle ${base?.cycle}, ${mib(last?.rssKiB)} MiB after cycle ${last?.cycle} (${rssChange.toFixed(1)} %${whereTo}); ` +
      `${v8}${idleText}; ` +
      `fds ${Math.min(...fds)}-${Math.max(...fds)}; versions at most ${Math.max(...run.samples.map((s) => s.versions))} (keepVersions ${run.keepVersions}); ` +
      `downloads at most ${Math.max(...run.samples.map((s) => s.downloadFiles))} files; journal ${(growth.firstHalf / 1024).toFixed(2)} then ${(growth.secondHalf / 1024).toFixed(2)} KiB per cycle; ` +
      `history --json ${run.historyMs.first.recent.toFixed(0)} -> ${run.historyMs.last.recent.toFixed(0)} ms (all ${run.historyEntries} entries: ${run.historyMs.last.all.toFixed(0)} ms)`,
    figures: {
      cycles,
      seconds: Math.round(run.totalMs / 1000),
      rssAfter50MiB: mib(base?.rssKiB),
      rssAfterLastMiB: mib(last?.rssKiB),
      rssChangePercent: Number(rssChange.toFixed(1)),
      rssMaxMiB: mib(Math.max(...run.samples.map((s) => s.rssKiB))),
      // A single sample lands anywhere in V8's GC saw-tooth: the medians of ten and fifty cycles too.
      rssMedianCycles41To50MiB: mib(median(run.samples.slice(40, 50).map((s) => s.rssKiB))),
      rssMedianLast50MiB: mib(median(run.samples.slice(-50).map((s) => s.rssKiB))),
      brkHeapAfter50MiB: mib(base?.brkHeapKiB),
      brkHeapAfterLastMiB: mib(last?.brkHeapKiB),
      otherAnonAfter50MiB: mib(base?.anonMappingsKiB),
      otherAnonAfterLastMiB: mib(last?.anonMappingsKiB),
      fileBackedAfter50MiB: mib(base?.rssFileKiB),
      fileBackedAfterLastMiB: mib(last?.rssFileKiB),
      v8HeapAfterMajorGcAfter50MiB: mib(base?.heapUsedAfterMajorGcKiB),
      v8HeapAfterMajorGcAfterLastMiB: mib(last?.heapUsedAfterMajorGcKiB),
      v8HeapTotalAfter50MiB: mib(base?.heapTotalKiB),
      v8HeapTotalAfterLastMiB: mib(last?.heapTotalKiB),
      v8MajorGcs: last?.majorGcs ?? Number.NaN,
      idleSeconds: idle?.seconds ?? 0,
      rssAfterIdleMiB: mib(idle?.sample.rssKiB),
      rssAfterIdleChangePercent: Number(change(base, idle?.sample).toFixed(1)),
      brkHeapAfterIdleMiB: mib(idle?.sample.brkHeapKiB),
      otherAnonAfterIdleMiB: mib(idle?.sample.anonMappingsKiB),
      v8HeapTotalAfterIdleMiB: mib(idle?.sample.heapTotalKiB),
      fdsMin: Math.min(...fds),
      fdsMax: Math.max(...fds),
      fdsLast: last?.fds ?? Number.NaN,
      versionsMax: Math.max(...run.samples.map((s) => s.versions)),
      downloadFilesMax: Math.max(...run.samples.map((s) => s.downloadFiles)),
      downloadBytesMax: Math.max(...run.samples.map((s) => s.downloadBytes)),
      journalKiB: Number(((last?.journalBytes ?? 0) / 1024).toFixed(0)),
      journalBytesPerCycleFirstHalf: Math.round(growth.firstHalf),
      journalBytesPerCycleSecondHalf: Math.round(growth.secondHalf),
      historyRecentMsFirst: Math.round(run.historyMs.first.recent),
      historyRecentMsLast: Math.round(run.historyMs.last.recent),
      historyAllMsFirst: Math.round(run.historyMs.first.all),
      historyAllMsLast: Math.round(run.historyMs.last.all),
      historyEntries: run.historyEntries,
    },
    rows: [...run.samples, ...run.idle.map((i) => ({ idleSeconds: i.seconds, ...i.sample }))],
  };
}
