import { readFileSync } from "node:fs";
import type { IClientOptions } from "mqtt";
import { EdgeError } from "./errors.js";

/** How to reach a broker: URL, optional login, optional TLS (CA, client certificate and key). */
export interface MqttSettings {
  url: string;
  username?: string;
  password?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

export function mqttUrlProblem(url: unknown): string | undefined {
  if (typeof url !== "string" || !/^(mqtts?|wss?|tcp|ssl):\/\/[^\s]+$/.test(url)) {
    return "mqtt url must be mqtt://host:port or mqtts://host:port";
  }
  return undefined;
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new EdgeError("CONFIG_INVALID", `cannot read MQTT ${what} ${path}: ${(cause as Error).message}`, { cause });
  }
}

/** mqtt.js options for these settings; reconnects are ours to pace, so the period is set by the caller. */
export function mqttClientOptions(settings: MqttSettings, extra: IClientOptions = {}): IClientOptions {
  const options: IClientOptions = { protocolVersion: 4, connectTimeout: 10_000, ...extra };
  if (settings.username !== undefined) options.username = settings.username;
  if (settings.password !== undefined) options.password = settings.password;
  if (settings.caFile) options.ca = readPem(settings.caFile, "CA file");
  if (settings.certFile) options.cert = readPem(settings.certFile, "client certificate");
  if (settings.keyFile) options.key = readPem(settings.keyFile, "client key");
  return options;
}
