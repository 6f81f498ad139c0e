import { readFile } from "node:fs/promises";

/**
 * One side of the delta codec in a process of its own, so the benchmark can
 * take its time and peak memory as it takes a peer tool's:
 *   node dist/bench/delta-child.js build ARGS.json   (buildDelta's options)
 *   node dist/bench/delta-child.js apply ARGS.json   (applyDelta's options)
 * Prints one JSON line: the call's result, its own milliseconds and the
 * process's peak RSS (process.resourceUsage().maxRSS, KiB). Each side loads
 * only its own code: the apply side is what the device runs.
 */
const [mode, argsPath] = process.argv.slice(2);
if ((mode !== "build" && mode !== "apply") || !argsPath) {
  process.stderr.write("usage: delta-child.js build|apply ARGS.json\n");
  process.exit(2);
}
const args = JSON.parse(await readFile(argsPath, "utf8"));
const start = performance.now();
const result =
  mode === "build"
    ? await (await import("../publisher/delta/build-delta.js")).buildDelta(args)
    : await (await import("../agent/delta/apply-delta.js")).applyDelta(args);
const ms = performance.now() - start;
process.stdout.write(`${JSON.stringify({ result, ms, maxRssKiB: process.resourceUsage().maxRSS })}\n`);
