import { decimal, integer, optionalSection, text } from "./schema-kit.js";

const TIB_IN_MIB = 1024 * 1024;

/**
 * `service.handover`: the agent's own reverse proxy on the service's public
 * port, so a new version starts beside the serving one and takes over between
 * two requests (agent/service/handover-controller.ts).
 */
export const handoverSection = optionalSection(
  {
    port: integer({
      default: 0,
      min: 1,
      max: 65535,
      shownDefault: "required",
      doc: "the service's public port: the agent's proxy listens on it (or takes it from systemd, `edgepull-agent.socket`) and each version's process gets a loopback port of its own in `EDGEPULL_PORT`",
    }),
    host: text({ default: "127.0.0.1", type: "address", doc: "the address the proxy listens on (without systemd's socket)" }),
    drainTimeoutSeconds: integer({
      default: 30,
      min: 0,
      max: 3600,
      doc: "after probation the old version's requests in flight may finish for this long before it is stopped",
    }),
    requestTimeoutSeconds: integer({
      default: 60,
      min: 1,
      max: 3600,
      doc: "a version that sends nothing for this long is given up: the client gets 504, counted as an error",
    }),
    maxInFlight: integer({
      default: 256,
      min: 1,
      max: 100_000,
      doc: "requests in flight through the proxy above which a new one is answered 503 + `Retry-After: 1` at once (counted in `edgepull_proxy_rejected_total`): an overloaded device fails fast instead of queueing in the agent's memory",
    }),
    retryAfterSeconds: integer({
      default: 5,
      min: 1,
      max: 3600,
      doc: "`Retry-After` of the 503 the proxy answers while no version can take requests (a restart-mode load)",
    }),
    memoryFactor: decimal({
      default: 1.25,
      min: 0,
      max: 100,
      doc: "admission: the serving version's peak memory (its cgroup's `memory.peak`, else `VmHWM`) times this, plus `memoryReserveMiB`, must fit in `MemAvailable` before a second version starts; otherwise that update restarts in place (`HANDOVER_SKIPPED: MEMORY_LOW`)",
    }),
    memoryReserveMiB: integer({
      default: 64,
      min: 0,
      max: TIB_IN_MIB,
      doc: "memory that must stay available with both versions running",
    }),
    maxMemoryPressure: decimal({
      default: 10,
      min: 0,
      max: 100,
      doc: "admission: `/proc/pressure/memory` `some avg10` (percent) above this restarts in place instead (`HANDOVER_SKIPPED: MEMORY_PRESSURE`)",
    }),
  },
  {
    doc: 'with `service.strategy` `"handover"`: where the proxy listens and how a hand-over is admitted and drained (see "Hand-over")',
    check: (h, at) => (h.port === 0 ? [`${at}.port is required (the service's public port)`] : []),
  },
);
