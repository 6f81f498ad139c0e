import { parseArgs } from "node:util";
import { type BenchResult, report } from "./common.js";
import { benchIdleRss } from "./idle-rss.js";
import { benchInstall } from "./install-throughput.js";
import { benchRollbackTime } from "./rollback-time.js";

/** `npm run bench [-- --json] [--size-mib N] [--only install,rss,rollback]` */
const { values } = parseArgs({
  options: {
    json: { type: "boolean" },
    "size-mib": { type: "string", default: "512" },
    only: { type: "string", default: "install,rss,rollback" },
  },
});
const only = new Set((values.only ?? "").split(","));
const results: BenchResult[] = [];
const progress = (text: string): void => {
  process.stderr.write(`bench: ${text}\n`);
};
if (only.has("install")) {
  progress(`install of a ${values["size-mib"]} MiB model (builds the bundle first)...`);
  results.push(await benchInstall(Number(values["size-mib"])));
}
if (only.has("rss")) {
  progress("idle RSS (about 20 s)...");
  results.push(await benchIdleRss());
}
if (only.has("rollback")) {
  progress("rollback time (3 runs)...");
  results.push(await benchRollbackTime(3));
}
report(results, values.json ?? false);
