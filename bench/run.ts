import { parseArgs } from "node:util";
import { benchCliStart } from "./cli-start.js";
import { type BenchResult, report } from "./common.js";
import { benchDelta } from "./delta.js";
import { benchFleet } from "./fleet.js";
import { benchFleetScale } from "./fleet-scale.js";
import { benchHandover } from "./handover.js";
import { benchIdleMqtt } from "./idle-mqtt.js";
import { benchIdleRss } from "./idle-rss.js";
import { benchIdleSide } from "./idle-side.js";
import { benchInstall } from "./install-throughput.js";
import { benchModuleCost } from "./module-cost.js";
import { benchRollbackTime } from "./rollback-time.js";
import { benchSoak, SOAK_IDLE_SECONDS } from "./soak-report.js";

/**
 * `npm run bench [-- --json] [--size-mib N] [--only install,rss,rollback]`
 * Long, only when named: `--only fleet [--devices N] [--stagger-ms M]` (a fleet of agent processes on one broker),
 * `--only fleet-scale [--sizes 100,300,1000] [--scale-jitter S] [--model-kib K]` (simulated devices, bench/fleet-sim,
 * on one Mosquitto against edge-publish serve and nginx; about ten minutes at the default sizes),
 * `--only idle-mqtt [--minutes N]` (the daemon idle with MQTT over N minutes),
 * `--only delta [--delta-sizes 64,512] [--skip-slow] [--xdelta-cap-seconds S]` (our delta against the bundle,
 * zstd --patch-from, xdelta3 and bspatch on generated model pairs; about half an hour at the default sizes),
 * `--only soak [--cycles N] [--idle-seconds S]` (one daemon through N update and rollback cycles: RSS and what it is
 * made of, fds, folders, journal, history; then S seconds idle, default 150).
 * `--only idle-side [--repeats 3] [--settle-seconds 15] [--baseline-dist DIR]` (the idle daemon polling and with MQTT beside bare node, in
 * one run; with another build's dist/ beside them too), `--only modules` (what each module costs a fresh process),
 * `--only cli-start [--baseline-dist DIR]` (edge-agent --version and status --json, start to exit, median of 10).
 * `--only handover [--updates 20] [--load-delay-ms 500] [--capacity-seconds 3] [--overhead-seconds 4]
 * [--idle-settle-seconds 5]` (restart against hand-over through N updates under a constant open-model load at 50 %
 * and 90 % of the example service's measured capacity, keep-alive and a new connection per request; about 4 min).
 */
const { values } = parseArgs({
  options: {
    json: { type: "boolean" },
    "size-mib": { type: "string", default: "512" },
    only: { type: "string", default: "install,rss,rollback" },
    devices: { type: "string", default: "50" },
    "stagger-ms": { type: "string", default: "200" },
    minutes: { type: "string", default: "10" },
    sizes: { type: "string", default: "100,300,1000" },
    "scale-jitter": { type: "string", default: "30" },
    "model-kib": { type: "string", default: "1024" },
    "delta-sizes": { type: "string", default: "64,512" },
    "skip-slow": { type: "boolean" },
    "xdelta-cap-seconds": { type: "string", default: "900" },
    cycles: { type: "string", default: "1000" },
    "idle-seconds": { type: "string", default: String(SOAK_IDLE_SECONDS) },
    repeats: { type: "string", default: "3" },
    "settle-seconds": { type: "string", default: "15" },
    "baseline-dist": { type: "string" },
    updates: { type: "string", default: "20" },
    "load-delay-ms": { type: "string", default: "500" },
    "capacity-seconds": { type: "string", default: "3" },
    "overhead-seconds": { type: "string", default: "4" },
    "idle-settle-seconds": { type: "string", default: "5" },
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
if (only.has("fleet")) {
  progress(`fleet of ${values.devices} agents on one broker, two pushed updates (a few minutes)...`);
  results.push(await benchFleet(Number(values.devices), progress, { staggerMs: Number(values["stagger-ms"]) }));
}
if (only.has("fleet-scale")) {
  progress(`simulated fleets of ${values.sizes} devices, one update each per server and jitter (about ten minutes)...`);
  results.push(
    await benchFleetScale({
      sizes: (values.sizes ?? "").split(",").map(Number),
      jitterSeconds: Number(values["scale-jitter"]),
      modelKiB: Number(values["model-kib"]),
      progress,
    }),
  );
}
if (only.has("idle-mqtt")) {
  progress(`agent idle with MQTT for ${values.minutes} min...`);
  results.push(await benchIdleMqtt(Number(values.minutes), progress));
}
if (only.has("delta")) {
  progress(`delta codec against zstd, xdelta3 and bspatch at ${values["delta-sizes"]} MiB (tens of minutes)...`);
  results.push(
    await benchDelta({
      sizesMiB: (values["delta-sizes"] ?? "").split(",").map(Number),
      skipSlow: values["skip-slow"] ?? false,
      xdeltaCapSeconds: Number(values["xdelta-cap-seconds"]),
      // Step by step only for a person watching.
      ...(process.stderr.isTTY ? { step: (text: string) => progress(`  ${text}`) } : {}),
    }),
  );
}
if (only.has("soak")) {
  progress(
    `soak: ${values.cycles} update and rollback cycles on one daemon (about 0.6 s each), then ${values["idle-seconds"]} s idle...`,
  );
  results.push(await benchSoak(Number(values.cycles), progress, Number(values["idle-seconds"])));
}
if (only.has("idle-side")) {
  progress(`idle RSS side by side, ${values.repeats} runs (about a minute each)...`);
  results.push(
    await benchIdleSide(
      Number(values.repeats),
      { baselineDist: values["baseline-dist"], settleSeconds: Number(values["settle-seconds"]) },
      progress,
    ),
  );
}
if (only.has("modules")) {
  progress("what each module costs at load (five fresh processes per module)...");
  results.push(await benchModuleCost());
}
if (only.has("cli-start")) {
  progress("edge-agent start to exit (10 runs each)...");
  results.push(await benchCliStart(10, values["baseline-dist"]));
}
if (only.has("handover")) {
  progress(`restart against hand-over, ${values.updates} updates each under constant load (a few minutes)...`);
  results.push(
    await benchHandover({
      updates: Number(values.updates),
      loadDelayMs: Number(values["load-delay-ms"]),
      capacitySeconds: Number(values["capacity-seconds"]),
      overheadSeconds: Number(values["overhead-seconds"]),
      settleSeconds: Number(values["idle-settle-seconds"]),
      progress,
    }),
  );
}
report(results, values.json ?? false);
