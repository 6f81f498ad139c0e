import { spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./common.js";
import type { LoadOptions, Shot } from "./open-load.js";

const LOAD_CHILD = join(ROOT, "dist", "bench", "load-child.js");

/** bench/load-child.ts's line back into a shot. */
function shotOf(line: string): Shot {
  const [dueMs, sentMs, endMs, status, version, failure, error] = JSON.parse(line) as [
    number,
    number,
    number,
    number,
    string | null,
    string | null,
    string | null,
  ];
  return { dueMs, sentMs, endMs, status, version, ...(failure ? { failure } : {}), ...(error ? { error } : {}) };
}

/** An OpenLoad in its own process, started now; stop() ends it and returns its shots in due order. */
export function startLoadProcess(opts: LoadOptions): { stop: () => Promise<Shot[]> } {
  const child = spawn(process.execPath, [LOAD_CHILD, JSON.stringify(opts)], { stdio: ["pipe", "pipe", "inherit"] });
  const shots: Shot[] = [];
  let buf = "";
  child.stdout.on("data", (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split("\n");
    buf = lines.pop() ?? "";
    for (const line of lines) if (line) shots.push(shotOf(line));
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  return {
    stop: async () => {
      child.stdin.end("stop\n");
      const code = await exited;
      if (code !== 0) throw new Error(`the load process exited with ${code}`);
      return shots.sort((a, b) => a.dueMs - b.dueMs);
    },
  };
}
