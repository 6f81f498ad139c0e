import { type LoadOptions, OpenLoad, type Shot } from "./open-load.js";

/**
 * An open-model load in a process of its own (bench/load-process.ts starts
 * it): the bench process also serves the repository and reads the agent's
 * status, and a load generator sharing its event loop starved both at high
 * rates. Options are argv[2] as JSON; the load runs until a line arrives on
 * stdin, then every shot is written to stdout, one JSON array per line.
 */
const opts = JSON.parse(process.argv[2] ?? "{}") as LoadOptions;
const load = new OpenLoad(opts);
load.start();
process.stdin.once("data", async () => {
  const shots = await load.stop();
  const row = (s: Shot): unknown[] => [s.dueMs, s.sentMs, s.endMs, s.status, s.version, s.failure ?? null, s.error ?? null];
  const chunk: string[] = [];
  for (const s of shots) {
    chunk.push(JSON.stringify(row(s)));
    if (chunk.length >= 1000) {
      if (!process.stdout.write(`${chunk.join("\n")}\n`)) await new Promise((r) => process.stdout.once("drain", r));
      chunk.length = 0;
    }
  }
  process.stdout.end(chunk.length > 0 ? `${chunk.join("\n")}\n` : "", () => process.exit(0));
});
