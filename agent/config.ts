import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { EdgeError } from "../shared/errors.js";
import { nameProblem, versionProblem } from "../shared/manifest.js";
import { type MqttSettings, mqttUrlProblem } from "../shared/mqtt-options.js";
import { type DownloadPolicy, normalizeOrigin, originProblem } from "../shared/url-policy.js";
import { DAYS, type Day, type MaintenanceWindow, parseClock } from "./update/maintenance-window.js";

export const DEFAULT_CONFIG_PATH = "/etc/edgepull/agent.json";

export interface ServiceConfig {
  mode: "supervise" | "command";
  command: string[];
  cwd: string;
  env: Record<string, string>;
  stopTimeoutSeconds: number;
  restartTimeoutSeconds: number;
}

export interface HealthConfig {
  url: string;
  timeoutSeconds: number;
  probationSeconds: number;
  intervalMs: number;
  rollbackTimeoutSeconds: number;
  /** While no update runs, the daemon probes this often so the fleet status follows the service's health. */
  watchIntervalSeconds: number;
}

export interface MqttConfig extends MqttSettings {
  /** A pushed release starts downloading after a random delay up to this, so a fleet does not arrive at once. */
  pushJitterSeconds: number;
  /** HTTP polling continues as the fallback, at this slower interval. */
  fallbackPollIntervalSeconds: number;
  /** At most one status message per this many seconds. */
  statusMinIntervalSeconds: number;
  /** An unchanged status is still resent after this long. */
  statusHeartbeatSeconds: number;
}

export interface AgentConfig {
  configPath: string;
  deviceId: string;
  dataDir: string;
  name: string;
  channel: string;
  repository: string;
  trustedKeys: string[];
  pollIntervalSeconds: number;
  pollJitterFraction: number;
  keepVersions: number;
  diskReserveMiB: number;
  /**
   * `maxFolderMiB`: the most downloads/ may hold; it only ever keeps the wanted release's bundle and delta.
   * `allowedOrigins`: where else than the repository's origin bundles and deltas may be downloaded from (a CDN).
   */
  download: { retries: number; idleTimeoutSeconds: number; maxFolderMiB: number; allowedOrigins: string[] };
  /** Deltas: taken when offered from the active version, unless disabled or memory is short. */
  delta: { enabled: boolean; minFreeMemoryMiB: number };
  service: ServiceConfig;
  health: HealthConfig;
  mqtt: MqttConfig | undefined;
  /** The optional local HTTP listener for /status and /metrics. */
  localEndpoint: { host: string; port: number } | undefined;
  /** Device labels a release may require (compatibility.labels). */
  labels: string[];
  /** CPU architecture matched against a release's compatibility.arch (Node's names: x64, arm64, arm). */
  arch: string;
  /** No updates while set (the technician's `edge-agent hold` does the same at run time). */
  hold: boolean;
  /** Install exactly this version from the repository, whatever the channel names. */
  pinVersion: string | undefined;
  /** Activate only inside these (local time); download and stage any time. */
  maintenanceWindows: MaintenanceWindow[];
  /** A folder watched for bundles to install offline. */
  inbox: string | undefined;
  logLevel: string;
}

type Json = Record<string, unknown>;

const KNOWN_KEYS = new Set([
  "deviceId",
  "dataDir",
  "name",
  "channel",
  "repository",
  "trustedKeys",
  "pollIntervalSeconds",
  "pollJitterFraction",
  "keepVersions",
  "diskReserveMiB",
  "download",
  "delta",
  "service",
  "health",
  "logLevel",
  "mqtt",
  "inbox",
  "localEndpoint",
  "labels",
  "arch",
  "hold",
  "pinVersion",
  "maintenanceWindows",
  "$schema",
  "comment",
]);

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** Reads and validates the agent config, listing every problem at once. */
export async function loadConfig(path: string): Promise<AgentConfig> {
  const configPath = resolve(path);
  let text: string;
  try {
    text = await readFile(configPath, "utf8");
  } catch (cause) {
    throw new EdgeError("CONFIG_INVALID", `cannot read config ${configPath}: ${(cause as Error).message}`, { cause });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new EdgeError("CONFIG_INVALID", `config ${configPath} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  return parseConfig(raw, configPath);
}

/** Validates a parsed config; relative paths resolve against the config file's folder. */
export function parseConfig(raw: unknown, configPath: string): AgentConfig {
  const problems: string[] = [];
  const base = dirname(configPath);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new EdgeError("CONFIG_INVALID", `config ${configPath} must be a JSON object`);
  }
  const c = raw as Json;
  for (const key of Object.keys(c)) if (!KNOWN_KEYS.has(key)) problems.push(`unknown key "${key}"`);

  const str = (obj: Json, key: string, where: string, fallback?: string): string => {
    const v = obj[key];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== "string" || v.length === 0) {
      problems.push(`${where}${key} must be a non-empty string`);
      return "";
    }
    return v;
  };
  const num = (obj: Json, key: string, where: string, fallback: number, min: number, max: number, integer = true): number => {
    const v = obj[key];
    if (v === undefined) return fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min || v > max) {
      problems.push(`${where}${key} must be ${integer ? "an integer" : "a number"} from ${min} to ${max}`);
      return fallback;
    }
    return v;
  };
  const obj = (key: string): Json => {
    const v = c[key];
    if (v === undefined) return {};
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      problems.push(`${key} must be an object`);
      return {};
    }
    return v as Json;
  };
  const path = (p: string): string => (p === "" ? p : isAbsolute(p) ? p : resolve(base, p));

  const deviceId = str(c, "deviceId", "");
  if (deviceId && !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(deviceId)) {
    problems.push("deviceId must be 1-128 characters of letters, digits, '.', '_', ':' or '-'");
  }
  const dataDir = path(str(c, "dataDir", ""));
  const name = str(c, "name", "");
  if (name) {
    const p = nameProblem(name);
    if (p) problems.push(p);
  }
  const channel = str(c, "channel", "");
  if (channel) {
    const p = nameProblem(channel, "channel");
    if (p) problems.push(p);
  }
  const repository = str(c, "repository", "");
  if (repository && !/^https?:\/\/[^\s]+$/.test(repository)) problems.push("repository must be an http:// or https:// URL");

  let trustedKeys: string[] = [];
  if (!Array.isArray(c.trustedKeys) || c.trustedKeys.length === 0 || !c.trustedKeys.every((k) => typeof k === "string" && k)) {
    problems.push("trustedKeys must be a non-empty list of public key file paths");
  } else {
    trustedKeys = (c.trustedKeys as string[]).map(path);
  }

  const pollIntervalSeconds = num(c, "pollIntervalSeconds", "", 300, 1, 7 * 24 * 3600);
  const pollJitterFraction = num(c, "pollJitterFraction", "", 0.2, 0, 1, false);
  const keepVersions = num(c, "keepVersions", "", 3, 2, 100);
  const diskReserveMiB = num(c, "diskReserveMiB", "", 64, 0, 1024 * 1024);

  const d = obj("download");
  for (const key of Object.keys(d))
    if (!["retries", "idleTimeoutSeconds", "maxFolderMiB", "allowedOrigins"].includes(key))
      problems.push(`unknown key "download.${key}"`);
  const allowedOrigins: string[] = [];
  if (d.allowedOrigins !== undefined && !Array.isArray(d.allowedOrigins)) {
    problems.push("download.allowedOrigins must be a list of origins (scheme://host[:port])");
  }
  for (const [i, origin] of (Array.isArray(d.allowedOrigins) ? (d.allowedOrigins as unknown[]) : []).entries()) {
    const problem = originProblem(origin);
    if (problem) problems.push(`download.allowedOrigins[${i}] ${problem}`);
    else allowedOrigins.push(normalizeOrigin(origin as string));
  }
  const download = {
    retries: num(d, "retries", "download.", 6, 0, 100),
    idleTimeoutSeconds: num(d, "idleTimeoutSeconds", "download.", 30, 1, 3600),
    // Room for one large model's bundle; a release bigger than this is refused before its first byte.
    maxFolderMiB: num(d, "maxFolderMiB", "download.", 8192, 1, 1024 * 1024),
    allowedOrigins,
  };

  const dl = obj("delta");
  for (const key of Object.keys(dl))
    if (key !== "enabled" && key !== "minFreeMemoryMiB") problems.push(`unknown key "delta.${key}"`);
  if (dl.enabled !== undefined && typeof dl.enabled !== "boolean") problems.push("delta.enabled must be true or false");
  const delta = {
    enabled: dl.enabled !== false,
    // A 16 MiB bsdiff window patched whole (old, new, patch) plus a tensor chunk and its planes, with room to spare.
    minFreeMemoryMiB: num(dl, "minFreeMemoryMiB", "delta.", 128, 0, 1024 * 1024),
  };

  const s = obj("service");
  if (c.service === undefined) problems.push("service must be an object with mode and command");
  const mode = s.mode;
  if (mode !== "supervise" && mode !== "command") problems.push('service.mode must be "supervise" or "command"');
  let command: string[] = [];
  if (!Array.isArray(s.command) || s.command.length === 0 || !s.command.every((x) => typeof x === "string" && x)) {
    problems.push("service.command must be a non-empty list of strings (program and arguments)");
  } else {
    command = s.command as string[];
  }
  const env: Record<string, string> = {};
  if (s.env !== undefined) {
    if (typeof s.env !== "object" || s.env === null || Array.isArray(s.env)) problems.push("service.env must be an object");
    else {
      for (const [k, v] of Object.entries(s.env as Json)) {
        if (typeof v !== "string") problems.push(`service.env.${k} must be a string`);
        else env[k] = v;
      }
    }
  }
  const service: ServiceConfig = {
    mode: mode === "command" ? "command" : "supervise",
    command,
    cwd: s.cwd === undefined ? base : path(str(s, "cwd", "service.")),
    env,
    stopTimeoutSeconds: num(s, "stopTimeoutSeconds", "service.", 10, 1, 600),
    restartTimeoutSeconds: num(s, "restartTimeoutSeconds", "service.", 60, 1, 3600),
  };

  const h = obj("health");
  if (c.health === undefined) problems.push("health must be an object with url");
  const url = str(h, "url", "health.");
  if (url && !/^https?:\/\/[^\s]+$/.test(url)) problems.push("health.url must be an http:// or https:// URL");
  const health: HealthConfig = {
    url,
    timeoutSeconds: num(h, "timeoutSeconds", "health.", 60, 1, 3600),
    probationSeconds: num(h, "probationSeconds", "health.", 10, 0, 3600),
    intervalMs: num(h, "intervalMs", "health.", 250, 10, 60_000),
    rollbackTimeoutSeconds: num(h, "rollbackTimeoutSeconds", "health.", 120, 1, 3600),
    watchIntervalSeconds: num(h, "watchIntervalSeconds", "health.", 10, 1, 3600),
  };

  let mqtt: MqttConfig | undefined;
  if (c.mqtt !== undefined) {
    const m = obj("mqtt");
    const murl = str(m, "url", "mqtt.");
    const up = murl ? mqttUrlProblem(murl) : undefined;
    if (up) problems.push(`mqtt.${up.replace(/^mqtt /, "")}`);
    const optional = (key: string): string | undefined => (m[key] === undefined ? undefined : str(m, key, "mqtt."));
    const file = (key: string): string | undefined => {
      const v = optional(key);
      return v === undefined ? undefined : path(v);
    };
    mqtt = {
      url: murl,
      username: optional("username"),
      password: optional("password"),
      caFile: file("caFile"),
      certFile: file("certFile"),
      keyFile: file("keyFile"),
      pushJitterSeconds: num(m, "pushJitterSeconds", "mqtt.", 30, 0, 24 * 3600, false),
      fallbackPollIntervalSeconds: num(m, "fallbackPollIntervalSeconds", "mqtt.", 3600, 1, 7 * 24 * 3600),
      statusMinIntervalSeconds: num(m, "statusMinIntervalSeconds", "mqtt.", 5, 0, 3600, false),
      statusHeartbeatSeconds: num(m, "statusHeartbeatSeconds", "mqtt.", 600, 10, 7 * 24 * 3600),
    };
    const known = new Set([
      "url",
      "username",
      "password",
      "caFile",
      "certFile",
      "keyFile",
      "pushJitterSeconds",
      "fallbackPollIntervalSeconds",
      "statusMinIntervalSeconds",
      "statusHeartbeatSeconds",
    ]);
    for (const key of Object.keys(m)) if (!known.has(key)) problems.push(`unknown key "mqtt.${key}"`);
    if (mqtt.certFile && !mqtt.keyFile) problems.push("mqtt.certFile needs mqtt.keyFile");
  }

  let localEndpoint: AgentConfig["localEndpoint"];
  if (c.localEndpoint !== undefined) {
    const l = obj("localEndpoint");
    localEndpoint = {
      host: str(l, "host", "localEndpoint.", "127.0.0.1"),
      port: num(l, "port", "localEndpoint.", 9210, 0, 65535),
    };
  }
  let labels: string[] = [];
  if (c.labels !== undefined) {
    if (!Array.isArray(c.labels) || !c.labels.every((l) => typeof l === "string" && l))
      problems.push("labels must be a list of strings");
    else labels = c.labels as string[];
  }
  const arch = c.arch === undefined ? process.arch : str(c, "arch", "");
  if (c.hold !== undefined && typeof c.hold !== "boolean") problems.push("hold must be true or false");
  const hold = c.hold === true;
  let pinVersion: string | undefined;
  if (c.pinVersion !== undefined) {
    const problem = versionProblem(c.pinVersion);
    if (problem) problems.push(`pinVersion: ${problem}`);
    else pinVersion = c.pinVersion as string;
  }
  const maintenanceWindows: MaintenanceWindow[] = [];
  if (c.maintenanceWindows !== undefined) {
    if (!Array.isArray(c.maintenanceWindows)) problems.push("maintenanceWindows must be a list");
    else {
      for (const [i, w] of (c.maintenanceWindows as unknown[]).entries()) {
        const win = (typeof w === "object" && w !== null ? w : {}) as Json;
        const days = win.days;
        const okDays = Array.isArray(days) && days.length > 0 && days.every((d) => (DAYS as readonly unknown[]).includes(d));
        if (!okDays) problems.push(`maintenanceWindows[${i}].days must list some of ${DAYS.join(", ")}`);
        for (const key of ["start", "end"] as const) {
          if (typeof win[key] !== "string" || parseClock(win[key] as string) === undefined) {
            problems.push(`maintenanceWindows[${i}].${key} must be HH:MM (24 h, local time)`);
          }
        }
        if (win.start === win.end) problems.push(`maintenanceWindows[${i}] is empty (start equals end)`);
        maintenanceWindows.push({ days: (okDays ? days : []) as Day[], start: String(win.start), end: String(win.end) });
      }
    }
  }
  const inbox = c.inbox === undefined ? undefined : path(str(c, "inbox", ""));

  const logLevel = c.logLevel === undefined ? "info" : String(c.logLevel);
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`logLevel must be one of ${LOG_LEVELS.join(", ")}`);

  if (problems.length > 0) {
    throw new EdgeError("CONFIG_INVALID", `config ${configPath} has ${problems.length} problem(s): ${problems.join("; ")}`);
  }
  return {
    configPath,
    deviceId,
    dataDir,
    name,
    channel,
    repository,
    trustedKeys,
    pollIntervalSeconds,
    pollJitterFraction,
    keepVersions,
    diskReserveMiB,
    download,
    delta,
    service,
    health,
    mqtt,
    localEndpoint,
    labels,
    arch,
    hold,
    pinVersion,
    maintenanceWindows,
    inbox,
    logLevel,
  };
}

/** The URL policy for what a repository release may name (shared/url-policy.ts). */
export function downloadPolicy(config: Pick<AgentConfig, "repository" | "download">): DownloadPolicy {
  return { repository: config.repository, allowedOrigins: config.download.allowedOrigins };
}
