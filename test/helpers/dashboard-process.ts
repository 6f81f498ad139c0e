import { spawn } from "node:child_process";
import { PUBLISH_BIN, waitFor } from "./processes.js";

export interface DashboardProcess {
  url: string;
  stderr(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** `edge-publish dashboard ... --port 0 --json` as a child process, once it printed its URL. */
export async function startDashboardProcess(args: string[]): Promise<DashboardProcess> {
  const child = spawn(process.execPath, [PUBLISH_BIN, "dashboard", ...args, "--port", "0", "--json"]);
  let out = "";
  let err = "";
  child.stdout.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr.on("data", (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  try {
    const printed = await waitFor(
      "the dashboard's URL",
      () => {
        if (child.exitCode !== null) throw new Error(`edge-publish dashboard exited ${child.exitCode}: ${err}`);
        return out.includes("\n") ? (JSON.parse(out) as { url: string }) : undefined;
      },
      30_000,
      50,
    );
    return {
      url: printed.url,
      stderr: () => err,
      stop: async () => {
        if (child.exitCode === null) child.kill("SIGTERM");
        return exited;
      },
    };
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
}
