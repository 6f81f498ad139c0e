import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { EXAMPLE_SERVICE } from "./processes.js";

/**
 * How the service misbehaves on one model version:
 * - `hang`: listens on PORT and accepts connections, but never answers a byte;
 * - `crash`: exits with status 3 as soon as it starts, every time it is started;
 * - `crash-after-ready`: the example service, which gets ready, then exits 3 after `crashAfterMs`.
 */
export type ServiceFault = "hang" | "crash" | "crash-after-ready";

const SCRIPT = `
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
const version = JSON.parse(readFileSync(process.env.EDGEPULL_MODEL_DIR + "/config.json", "utf8")).version;
const fault = JSON.parse(process.env.SERVICE_FAULTS ?? "{}")[version];
if (fault === "hang") {
  const held = [];
  createServer((socket) => held.push(socket)).listen(Number(process.env.PORT), "127.0.0.1");
} else if (fault === "crash") {
  process.exit(3);
} else {
  await import(${JSON.stringify(EXAMPLE_SERVICE)});
  if (fault === "crash-after-ready") setTimeout(() => process.exit(3), Number(process.env.CRASH_AFTER_MS ?? 600));
}
`;

/**
 * The agent's `service` section for a supervised wrapper around the example
 * service that misbehaves as `faults` says on the versions named there (the
 * version is read from the model's config.json), and is the plain example
 * service on every other version.
 */
export async function faultyServiceConfig(
  dir: string,
  port: number,
  faults: Record<string, ServiceFault>,
  opts: { crashAfterMs?: number } = {},
): Promise<Record<string, unknown>> {
  const script = join(dir, "faulty-service.mjs");
  await writeFile(script, SCRIPT);
  return {
    mode: "supervise",
    command: [process.execPath, script],
    env: { PORT: String(port), SERVICE_FAULTS: JSON.stringify(faults), CRASH_AFTER_MS: String(opts.crashAfterMs ?? 600) },
  };
}
