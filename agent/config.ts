import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { EdgeError } from "../shared/errors.js";
import type { DownloadPolicy } from "../shared/url-policy.js";
import { AGENT_CONFIG_SCHEMA, type ConfigFile } from "./config/schema.js";
import { parseDocument } from "./config/schema-kit.js";

export { DEFAULT_CONFIG_PATH } from "./config/default-path.js";

export type AgentConfig = ConfigFile & {
  /** The file it was read from, absolute. */
  configPath: string;
};
export type ServiceConfig = AgentConfig["service"];
export type HealthConfig = AgentConfig["health"];
export type MqttConfig = NonNullable<AgentConfig["mqtt"]>;

/** Reads and validates the agent config, listing every problem at once. */
export async function loadConfig(path: string): Promise<AgentConfig> {
  const checked = await checkConfigFile(path);
  if (checked.config) return checked.config;
  throw configInvalid(checked);
}

export interface ConfigCheck {
  configPath: string;
  /** Present when there is no problem. */
  config: AgentConfig | undefined;
  problems: string[];
  /** The file cannot be read, is not JSON or not an object: its one problem names the file. */
  unusable: boolean;
}

/** Reads and validates a config file without throwing: what `edge-agent config check` reports. */
export async function checkConfigFile(path: string): Promise<ConfigCheck> {
  const configPath = resolve(path);
  const unusable = (problem: string): ConfigCheck => ({ configPath, config: undefined, problems: [problem], unusable: true });
  let text: string;
  try {
    text = await readFile(configPath, "utf8");
  } catch (cause) {
    return unusable(`cannot read config ${configPath}: ${(cause as Error).message}`);
  }
  // A byte-order mark (some Windows editors write one) is not a JSON error.
  text = text.replace(/^\uFEFF/, "");
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    return unusable(`config ${configPath} is not valid JSON: ${jsonSyntaxProblem(text, cause as Error)}`);
  }
  return validateConfig(raw, configPath);
}

/** Validates a parsed config; relative paths resolve against the config file's folder. */
export function parseConfig(raw: unknown, configPath: string): AgentConfig {
  const checked = validateConfig(raw, configPath);
  if (checked.config) return checked.config;
  throw configInvalid(checked);
}

function validateConfig(raw: unknown, configPath: string): ConfigCheck {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return { configPath, config: undefined, problems: [`config ${configPath} must be a JSON object`], unusable: true };
  }
  const { value, problems } = parseDocument(AGENT_CONFIG_SCHEMA, raw, dirname(configPath));
  return { configPath, config: problems.length === 0 ? { configPath, ...value } : undefined, problems, unusable: false };
}

function configInvalid(checked: ConfigCheck): EdgeError {
  const { configPath, problems } = checked;
  const message = checked.unusable
    ? problems.join("; ")
    : `config ${configPath} has ${problems.length} problem(s): ${problems.join("; ")}`;
  return new EdgeError("CONFIG_INVALID", message);
}

/**
 * JSON.parse's message with the line and column it points at: V8 names a
 * character offset at best ("at position 41"), and for an unexpected token
 * none at all; a technician needs the line.
 */
export function jsonSyntaxProblem(text: string, err: Error): string {
  const offset = syntaxErrorOffset(text);
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - before.lastIndexOf("\n");
  const detail = err.message.replace(/ in JSON at position \d+.*$/s, "").replace(/, (\.\.\.)?".*" is not valid JSON$/s, "");
  return `line ${line}, column ${column}: ${detail}`;
}

/**
 * Where `text` stops being the start of some valid JSON: the longest prefix
 * JSON.parse fails on only at its end (or accepts) ends there. Prefixes of such
 * a prefix are such prefixes too, so a binary search finds it.
 */
function syntaxErrorOffset(text: string): number {
  const viable = (length: number): boolean => {
    try {
      JSON.parse(text.slice(0, length));
      return true;
    } catch (err) {
      const message = (err as Error).message;
      const at = /at position (\d+)/.exec(message);
      return at ? Number(at[1]) >= length : /end of JSON input/.test(message);
    }
  };
  if (viable(text.length)) return text.length;
  let lo = 0;
  let hi = text.length;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (viable(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** The URL policy for what a repository release may name (shared/url-policy.ts). */
export function downloadPolicy(config: Pick<AgentConfig, "repository" | "download">): DownloadPolicy {
  return { repository: config.repository, allowedOrigins: config.download.allowedOrigins };
}
