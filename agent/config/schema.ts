import { nameProblem, versionProblem } from "../../shared/manifest.js";
import { mqttUrlProblem } from "../../shared/mqtt-options.js";
import { normalizeOrigin, originProblem } from "../../shared/url-policy.js";
import { DAYS, parseClock } from "./clock.js";
import { duplicateGateNames, gatesField } from "./gates-schema.js";
import { handoverSection } from "./handover-schema.js";
import {
  bool,
  choice,
  decimal,
  type Infer,
  integer,
  list,
  optionalSection,
  optionalText,
  record,
  requiredSection,
  section,
  text,
} from "./schema-kit.js";
import { shadowSection } from "./shadow-schema.js";
import { validateSection } from "./validate-schema.js";

/**
 * Every key of the agent's config file: type, bounds, default and meaning.
 * The parser, the defaults the code sees and the README's table all come
 * from here (`npm run docs:config` rewrites the table; a test compares them).
 */

const WEEK = 7 * 24 * 3600;
const TIB_IN_MIB = 1024 * 1024;
const httpUrl = (v: string, at: string) =>
  /^https?:\/\/[^\s]+$/.test(v) ? undefined : `${at} must be an http:// or https:// URL`;
const clock = (v: string, at: string) => (parseClock(v) === undefined ? `${at} must be HH:MM (24 h, local time)` : undefined);
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const download = section({
  retries: integer({
    default: 6,
    min: 0,
    max: 100,
    doc: "attempts per download, with capped exponential backoff; the partial file is kept and resumed",
  }),
  idleTimeoutSeconds: integer({
    default: 30,
    min: 1,
    max: 3600,
    doc: "a connection that sends nothing this long is dropped and resumed",
  }),
  // Room for one large model's bundle; a release bigger than this is refused before its first byte.
  maxFolderMiB: integer({
    default: 8192,
    min: 1,
    max: TIB_IN_MIB,
    doc: "the most `<dataDir>/downloads/` may hold. It only ever keeps the bundle (and delta) of the one release wanted; a bundle or delta that would take it past this is refused before its first byte (`DOWNLOAD_TOO_LARGE`)",
  }),
  allowedOrigins: list(
    text({
      doc: "",
      check: (v, at) => {
        const problem = originProblem(v);
        return problem ? `${at} ${problem}` : undefined;
      },
      transform: normalizeOrigin,
    }),
    {
      default: [],
      must: "a list of origins (scheme://host[:port])",
      type: "list of origins",
      doc: "origins (`https://cdn.example.com`, `http://10.0.0.5:8080`: scheme, host and port only) besides the repository's own that a release's bundle, delta and release-manifest URLs may name, for a CDN. A release from the repository or MQTT naming anything else, or any scheme but `http:`/`https:` (`file:` included), is refused before any download (`URL_FORBIDDEN`); local files are installed only with `edge-agent install` or the inbox",
    },
  ),
});

const delta = section({
  enabled: bool({
    default: true,
    doc: "take a delta when the release offers one from the active version and it is smaller than the bundle",
  }),
  // A 16 MiB bsdiff window patched whole (old, new, patch) plus a tensor chunk and its planes, with room to spare.
  minFreeMemoryMiB: integer({
    default: 128,
    min: 0,
    max: TIB_IN_MIB,
    doc: "below this much available memory (MemAvailable) the agent takes the bundle instead of applying a delta (`MEMORY_LOW`, recorded)",
  }),
});

const service = requiredSection(
  {
    mode: choice(["supervise", "command"], {
      doc: '`supervise`: the agent runs `command` as its child with `EDGEPULL_MODEL_DIR` set to the active version\'s folder, and restarts it with backoff if it crashes. `command`: the agent runs `command` (for example `["systemctl", "restart", "inference"]`) to restart a service managed elsewhere, which reads `<dataDir>/current`',
    }),
    command: list(text({ doc: "" }), {
      nonEmpty: true,
      must: "a non-empty list of strings (program and arguments)",
      type: "list of strings",
      doc: "program and arguments",
    }),
    cwd: text({
      path: true,
      default: (ctx) => ctx.base,
      shownDefault: "config folder",
      doc: "working folder for `command`",
    }),
    env: record(text({ doc: "", allowEmpty: true }), { doc: "extra environment for `command`" }),
    stopTimeoutSeconds: integer({
      default: 10,
      min: 1,
      max: 600,
      doc: "SIGTERM, then SIGKILL after this long (supervise mode)",
    }),
    restartTimeoutSeconds: integer({
      default: 60,
      min: 1,
      max: 3600,
      doc: "the restart command must finish within this (command mode)",
    }),
    strategy: choice(["restart", "handover"], {
      default: "restart",
      doc: '`restart`: an update stops the serving version and starts the new one (no answers while it loads). `handover` (supervise mode): the new version starts beside the serving one behind the agent\'s proxy on `service.handover.port` and takes over between two requests once ready (see "Hand-over")',
    }),
    handover: handoverSection,
  },
  "an object with mode and command",
  {
    check: (s, at) => {
      if (s.strategy !== "handover") return [];
      if (s.mode !== "supervise")
        return [`${at}.strategy "handover" needs ${at}.mode "supervise" (the agent runs each version itself)`];
      return s.handover ? [] : [`${at}.strategy "handover" needs a ${at}.handover section with the public port`];
    },
  },
);

const health = requiredSection(
  {
    url: text({ check: httpUrl, type: "URL", doc: "polled after each restart until it answers 2xx" }),
    timeoutSeconds: integer({
      default: 60,
      min: 1,
      max: 3600,
      doc: "how long a new version has to become ready",
    }),
    probationSeconds: integer({
      default: 10,
      min: 0,
      max: 3600,
      doc: "after ready, any failed probe or crash within this window still fails the update",
    }),
    intervalMs: integer({ default: 250, min: 10, max: 60_000, doc: "probe interval while waiting for ready" }),
    rollbackTimeoutSeconds: integer({
      default: 120,
      min: 1,
      max: 3600,
      doc: "how long the previous version has to become ready again after a rollback",
    }),
    watchIntervalSeconds: integer({
      default: 10,
      min: 1,
      max: 3600,
      doc: "the daemon also probes `health.url` this often while no update runs, to count each version's healthy serving time; with `mqtt`, each change (ready, not ready, crashed; the first ready after start too) sends a fresh retained status, at most `mqtt.statusMinIntervalSeconds` later",
    }),
    metricsUrl: optionalText({
      check: httpUrl,
      type: "URL",
      shownDefault: "`/metrics` beside `health.url`",
      doc: "the service's Prometheus endpoint, read by `health.gates`",
    }),
    gates: gatesField,
    gateIntervalSeconds: integer({
      default: 10,
      min: 1,
      max: 3600,
      doc: "seconds between evaluations of `health.gates` during probation (a gate's `interval` overrides it); the last one comes at the end of the window",
    }),
    baselineWindowSeconds: integer({
      default: 30,
      min: 0,
      max: 3600,
      doc: "with a baseline-relative gate, the previous version's `/metrics` is read twice this far apart just before the restart, and its figure over that window is the baseline (0, or fewer than `minSamples` in the window: its figure since it started)",
    }),
  },
  "an object with url",
  {
    check: (h, at) => [
      ...duplicateGateNames(h.gates, `${at}.gates`),
      ...(h.gates.length > 0 && h.probationSeconds === 0 ? [`${at}.gates need ${at}.probationSeconds of 1 or more`] : []),
    ],
  },
);

const mqtt = optionalSection(
  {
    url: text({
      type: "URL",
      check: (v, at) => (mqttUrlProblem(v) ? `${at} must be mqtt://host:port or mqtts://host:port` : undefined),
      doc: "the broker; `mqtt://` or `mqtts://`",
    }),
    username: optionalText({ doc: "broker login" }),
    password: optionalText({ doc: "broker login" }),
    caFile: optionalText({ path: true, doc: "TLS: the broker's CA" }),
    certFile: optionalText({ path: true, doc: "TLS: a client certificate (needs `mqtt.keyFile`)" }),
    keyFile: optionalText({ path: true, doc: "TLS: the client certificate's key" }),
    pushJitterSeconds: decimal({
      default: 30,
      min: 0,
      max: 24 * 3600,
      doc: "a pushed release is acted on after a random delay up to this, so a fleet does not hit the repository in the same second; a newer push within the window replaces the pending one",
    }),
    fallbackPollIntervalSeconds: integer({
      default: 3600,
      min: 1,
      max: WEEK,
      doc: "with MQTT, HTTP polling continues at this slower interval (`pollIntervalSeconds` applies without MQTT)",
    }),
    statusMinIntervalSeconds: decimal({
      default: 5,
      min: 0,
      max: 3600,
      doc: "at most one status message per this many seconds",
    }),
    statusHeartbeatSeconds: integer({
      default: 600,
      min: 10,
      max: WEEK,
      doc: "an unchanged status is resent after this long (a change of health, phase or result goes out at once, paced by `statusMinIntervalSeconds`)",
    }),
  },
  {
    doc: "with an `mqtt` section the agent subscribes to its channel's topic (push) and reports status and events",
    check: (m, at) => (m.certFile && !m.keyFile ? [`${at}.certFile needs ${at}.keyFile`] : []),
  },
);

const localEndpoint = optionalSection(
  {
    host: text({ default: "127.0.0.1", type: "address", doc: "the address it listens on" }),
    port: integer({ default: 9210, min: 0, max: 65535, doc: "its port (0 picks a free one)" }),
  },
  {
    doc: 'with a `localEndpoint` section the daemon serves `GET /status` (the JSON of `edge-agent status --json`; 200 healthy, 503 degraded) and `GET /metrics` (Prometheus text format: updates by result, rollbacks, bytes downloaded, bytes saved by deltas, current phase, active version as an info metric, `edgepull_active_version_withdrawn` (1 while the active version is withdrawn), last check time, service readiness, free disk, and per version the healthy and unhealthy serving seconds and rollbacks: README "Healthy device-hours")',
  },
);

const maintenanceWindow = section(
  {
    days: list(choice(DAYS, { doc: "" }), {
      nonEmpty: true,
      must: `list some of ${DAYS.join(", ")}`,
      type: "list of days",
      doc: `days of the week (${DAYS.map((d) => `\`${d}\``).join(", ")})`,
    }),
    start: text({ check: clock, type: "HH:MM", doc: "start, `HH:MM` (24 h, local time)" }),
    end: text({ check: clock, type: "HH:MM", doc: "end, `HH:MM`; before `start`, the window runs past midnight" }),
  },
  { check: (w, at) => (w.start === w.end && w.start !== "" ? [`${at} is empty (start equals end)`] : []) },
);

export const AGENT_CONFIG_SCHEMA = section(
  {
    deviceId: text({
      check: (v, at) =>
        /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(v)
          ? undefined
          : `${at} must be 1-128 characters of letters, digits, '.', '_', ':' or '-'`,
      doc: "this device's id (letters, digits, `.`, `_`, `:`, `-`)",
    }),
    dataDir: text({ path: true, doc: "the agent's data folder; nothing is ever written outside it" }),
    name: text({ check: (v, at) => nameProblem(v, at), doc: "the model name the device follows" }),
    channel: text({ check: (v, at) => nameProblem(v, at), doc: "the channel it follows (`stable`, `canary`, ...)" }),
    repository: text({ check: httpUrl, type: "URL", doc: "base URL of the update repository" }),
    trustedKeys: list(text({ path: true, doc: "" }), {
      nonEmpty: true,
      must: "a non-empty list of public key file paths",
      type: "list of paths",
      doc: 'public key files (PEM, Ed25519) the device ships with: trusted as they are while the repository has no keys documents, otherwise where it enters the keys chain (see "Rollouts, policy and trust"); ship a key the newest keys document lists',
    }),
    pollIntervalSeconds: integer({ default: 300, min: 1, max: WEEK, doc: "time between channel checks" }),
    pollJitterFraction: decimal({
      default: 0.2,
      min: 0,
      max: 1,
      doc: "each wait is the interval plus up to this fraction of it, at random",
    }),
    keepVersions: integer({
      default: 3,
      min: 2,
      max: 100,
      doc: "staged versions kept; the active and previous ones are never deleted",
    }),
    diskReserveMiB: integer({
      default: 64,
      min: 0,
      max: TIB_IN_MIB,
      doc: "free space that must remain after download and extraction",
    }),
    download,
    delta,
    service,
    health,
    validate: validateSection,
    shadow: shadowSection,
    mqtt,
    localEndpoint,
    labels: list(text({ doc: "" }), {
      default: [],
      must: "a list of strings",
      type: "list of strings",
      doc: "this device's labels; a release whose `compatibility.labels` names one it lacks is skipped (`incompatible`)",
    }),
    arch: text({
      default: () => process.arch,
      shownDefault: "Node's `process.arch`",
      doc: "matched against a release's `compatibility.arch` (`x64`, `arm64`, `arm`; Debian's `amd64`, `aarch64`, `armhf` are understood)",
    }),
    hold: bool({
      default: false,
      doc: "no new update starts; `edge-agent hold` / `release-hold` set and lift the same at run time",
    }),
    pinVersion: optionalText({
      check: (v, at) => {
        const problem = versionProblem(v);
        return problem ? `${at}: ${problem}` : undefined;
      },
      doc: "install exactly this version (its own signed release manifest), whatever the channel names",
    }),
    maintenanceWindows: list(maintenanceWindow, {
      default: [],
      must: "a list",
      type: "list of windows",
      shownDefault: "`[]` (always)",
      doc: '`[{"days": ["sat","sun"], "start": "02:00", "end": "04:00"}]`, local time; outside them a release is downloaded and staged (phase `waiting`) but activated only inside one; a window may run past midnight',
    }),
    inbox: optionalText({
      path: true,
      doc: "a folder watched for bundles (`*.tar.gz`): a bundle is taken once its size has been stable for 2 s, installed like `edge-agent install`, then moved to `installed/` or `failed/` beside `<file>.result.json`",
    }),
    logLevel: choice(LOG_LEVELS, { default: "info", doc: "pino level for the daemon" }),
  },
  // Editors' schema link and a free-text note: accepted and ignored.
  {
    ignore: ["$schema", "comment"],
    check: (c) => [
      ...healthThroughProxy(c.service, c.health.url),
      ...(c.shadow && c.service.strategy !== "handover"
        ? ['shadow needs service.strategy "handover": the comparison runs in the agent\'s proxy, before the switch']
        : []),
    ],
  },
);

/** With a hand-over proxy, readiness and probation are judged through it: the URL must name its port. */
function healthThroughProxy(service: { strategy: string; handover?: { port: number } | undefined }, url: string): string[] {
  if (service.strategy !== "handover" || !service.handover || service.handover.port === 0) return [];
  let port: string;
  try {
    const parsed = new URL(url);
    port = parsed.port || (parsed.protocol === "https:" ? "443" : "80");
  } catch {
    return [];
  }
  const wanted = String(service.handover.port);
  return port === wanted
    ? []
    : [`health.url must name the hand-over proxy's port ${wanted} (service.handover.port), not ${port}`];
}

export type ConfigFile = Infer<typeof AGENT_CONFIG_SCHEMA>;
