import { execFile } from "node:child_process";
import { join } from "node:path";
import { type BenchResult, median, ROOT } from "./common.js";

/**
 * What loading one module costs a fresh node process: RSS (anonymous and
 * file-backed), V8 heap used and external memory after a forced GC, against a
 * process that loaded nothing, median of `repeats` processes each.
 * `require` for the CommonJS packages the agent loads with `require` (mqtt,
 * bsdiff-node, better-sqlite3, systeminformation's probe modules), `import()` for everything else
 * (a comma-separated specifier loads several); each against a
 * process that loaded an empty module the same way (the loader's own first use
 * costs a few MiB that any import pays once).
 */
interface Target {
  label: string;
  how: "import" | "require";
  specifier: string;
}

const dist = (path: string): string => join(ROOT, "dist", path);
const EMPTY_ESM = join(ROOT, "dist", "bench", "empty-module.js");
const EMPTY_CJS = join(ROOT, "bench", "empty-module.cjs");

export const MODULE_TARGETS: Target[] = [
  { label: "pino", how: "import", specifier: "pino" },
  { label: "mqtt", how: "require", specifier: "mqtt" },
  { label: "systeminformation", how: "import", specifier: "systeminformation" },
  {
    label: "systeminformation: the four probe modules the agent requires",
    how: "require",
    specifier: ["osinfo", "cpu", "memory", "filesystem"].map((m) => `systeminformation/lib/${m}.js`).join(","),
  },
  { label: "semver", how: "import", specifier: "semver" },
  { label: "better-sqlite3", how: "require", specifier: "better-sqlite3" },
  { label: "chokidar", how: "import", specifier: "chokidar" },
  { label: "tar-stream", how: "import", specifier: "tar-stream" },
  { label: "bsdiff-node", how: "require", specifier: "bsdiff-node" },
  { label: "agent: config (schema, loader)", how: "import", specifier: dist("agent/config.js") },
  { label: "agent: journal (state/)", how: "import", specifier: dist("agent/state/store.js") },
  { label: "agent: bundle extraction (shared/bundle-reader)", how: "import", specifier: dist("shared/bundle-reader/extract.js") },
  { label: "agent: delta apply (delta/)", how: "import", specifier: dist("agent/delta/apply-delta.js") },
  { label: "agent: update attempt (update/)", how: "import", specifier: dist("agent/update/orchestrator.js") },
  {
    label: "agent: the daemon's wiring (wiring/daemon.js, all it imports)",
    how: "import",
    specifier: dist("agent/wiring/daemon.js"),
  },
  { label: "agent: status command (cli/status.js)", how: "import", specifier: dist("agent/cli/status.js") },
];

export interface ModuleCost {
  rssKiB: number;
  anonKiB: number;
  fileKiB: number;
  heapUsedKiB: number;
  externalKiB: number;
}

/** The child: load one module, collect garbage twice, print its own figures. */
const CHILD = `
const { readFileSync } = await import("node:fs");
const { createRequire } = await import("node:module");
const [how, specifier] = process.argv.slice(-2);
for (const one of specifier.split(",")) {
  if (how === "import") await import(one.startsWith("/") ? "file://" + one : one);
  if (how === "require") createRequire(process.cwd() + "/")(one);
}
await new Promise((r) => setTimeout(r, 50));
globalThis.gc(); globalThis.gc();
const status = readFileSync("/proc/self/status", "utf8");
const field = (n) => Number(new RegExp(n + ":\\\\s+(\\\\d+) kB").exec(status)[1]);
const m = process.memoryUsage();
process.stdout.write(JSON.stringify({ rssKiB: field("VmRSS"), anonKiB: field("RssAnon"), fileKiB: field("RssFile"),
  heapUsedKiB: m.heapUsed / 1024, externalKiB: m.external / 1024 }));
`;

function measureOnce(target: Target): Promise<ModuleCost> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--expose-gc", "--input-type=module", "-e", CHILD, "--", target.how, target.specifier],
      { cwd: ROOT, encoding: "utf8" },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`loading ${target.label} failed: ${stderr || error.message}`));
        else resolve(JSON.parse(stdout) as ModuleCost);
      },
    );
  });
}

async function measure(target: Target, repeats: number): Promise<ModuleCost> {
  const runs: ModuleCost[] = [];
  for (let i = 0; i < repeats; i++) runs.push(await measureOnce(target));
  const pick = (key: keyof ModuleCost): number => median(runs.map((r) => r[key]));
  return {
    rssKiB: pick("rssKiB"),
    anonKiB: pick("anonKiB"),
    fileKiB: pick("fileKiB"),
    heapUsedKiB: pick("heapUsedKiB"),
    externalKiB: pick("externalKiB"),
  };
}

const mib = (kib: number): string => (kib / 1024).toFixed(1);

/** `--only modules`: one row per module, each a difference against bare node (the first target). */
export async function benchModuleCost(repeats = 5): Promise<BenchResult> {
  const empty = {
    import: await measure({ label: "an empty ES module", how: "import", specifier: EMPTY_ESM }, repeats),
    require: await measure({ label: "an empty CommonJS module", how: "require", specifier: EMPTY_CJS }, repeats),
  };
  const lines = ["| module | RSS | anonymous | file-backed | V8 heap used | external |", "|---|---|---|---|---|---|"];
  const row = (label: string, values: (key: keyof ModuleCost) => string): string =>
    `| ${label} | ${values("rssKiB")} | ${values("anonKiB")} | ${values("fileKiB")} | ${values("heapUsedKiB")} | ${values("externalKiB")} |`;
  lines.push(row("node, an empty ES module imported (absolute)", (key) => mib(empty.import[key])));
  lines.push(row("node, an empty CommonJS module required (absolute)", (key) => mib(empty.require[key])));
  const figures: Record<string, number> = { "empty ES module RSS MiB": Number(mib(empty.import.rssKiB)) };
  for (const target of MODULE_TARGETS) {
    const cost = await measure(target, repeats);
    const base = empty[target.how];
    const delta = (key: keyof ModuleCost): string => {
      const d = cost[key] - base[key];
      return `${d >= 0 ? "+" : ""}${mib(d)}`;
    };
    lines.push(row(`${target.label} (${target.how})`, delta));
    figures[`${target.label} RSS MiB`] = Number(mib(cost.rssKiB - base.rssKiB));
  }
  return {
    name: `what loading each module costs a fresh node process (MiB after a forced GC, median of ${repeats})`,
    summary: lines.join("\n"),
    figures,
  };
}
