import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { EdgeError } from "../shared/errors.js";
import type { DownloadPolicy } from "../shared/url-policy.js";
import { AGENT_CONFIG_SCHEMA, type ConfigFile } from "./config/schema.js";
import { parseDocument } from "./config/schema-kit.js";

export const DEFAULT_CONFIG_PATH = "/etc/edgepull/agent.json";

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
 * character offset ("at position 41"), a technician needs the line.
 */
export function jsonSyntaxProblem(text: string, err: Error): string {
  const match = /at position (\d+)/.exec(err.message);
  const offset = match ? Number(match[1]) : text.length;
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - before.lastIndexOf("\n");
  const detail = err.message.replace(/\s*(in JSON )?at position \d+.*$/, "");
  return `line ${line}, column ${column}: ${detail}`;
}

/** The URL policy for what a repository release may name (shared/url-policy.ts). */
export function downloadPolicy(config: Pick<AgentConfig, "repository" | "download">): DownloadPolicy {
  return { repository: config.repository, allowedOrigins: config.download.allowedOrigins };
}
