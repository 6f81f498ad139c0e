import type { Logger } from "pino";
import type { CliFlags } from "../shared/cli-options.js";
import { EdgeError } from "../shared/errors.js";
import { type MqttSettings, mqttUrlProblem } from "../shared/mqtt-options.js";
import { type CommandName, compatibilityFlags, integerFlag, positiveNumberFlag, required } from "./cli-spec.js";
import { buildRelease } from "./commands/build.js";
import { type DeltaResult, makeDeltas } from "./commands/delta.js";
import { keygen } from "./commands/keygen.js";
import { publishChannel } from "./commands/publish.js";
import { startWatch } from "./commands/watch.js";
import { DEFAULT_FLEET_WAIT_MS, runFleetCommand } from "./fleet/fleet-command.js";
import { cliProgress, PLAIN_PROGRESS_MS, type ProgressStream } from "./progress.js";
import { requireRepository } from "./repo-check.js";
import { startRepoServer } from "./repo-server.js";

/** What a command may touch, handed in by main.ts (the only place that knows about process). */
export interface CliIo {
  json: boolean;
  out: (text: string) => void;
  progressStream: ProgressStream;
  /** Resolves when the process is asked to stop (SIGINT, SIGTERM). */
  stopRequested: Promise<void>;
  /** Warnings that do not end the command (stderr). */
  warn: (text: string) => void;
  /** stdout is a terminal. */
  isTty: boolean;
}

export type Flags = CliFlags;

export function str(flags: Flags, key: string): string | undefined {
  const v = flags[key];
  return typeof v === "string" ? v : undefined;
}

/** --mqtt and its companions; undefined when --mqtt is absent and `needed` is false. */
export function mqttFlags(flags: Flags, command: CommandName, needed: boolean): MqttSettings | undefined {
  const url = str(flags, "mqtt");
  const companions = ["mqtt-username", "mqtt-password", "mqtt-ca", "mqtt-cert", "mqtt-key"];
  if (url === undefined && !needed) {
    const stray = companions.find((k) => str(flags, k) !== undefined);
    if (stray) throw new EdgeError("USAGE", `--${stray} needs --mqtt URL (see edge-publish ${command} --help)`);
    return undefined;
  }
  const checked = required(url, "mqtt", command);
  const problem = mqttUrlProblem(checked);
  if (problem) throw new EdgeError("USAGE", `--mqtt: ${problem} (found ${JSON.stringify(checked)})`);
  const settings: MqttSettings = { url: checked };
  const set = (key: keyof MqttSettings, flag: string): void => {
    const v = str(flags, flag);
    if (v !== undefined) settings[key] = v;
  };
  set("username", "mqtt-username");
  set("password", "mqtt-password");
  set("caFile", "mqtt-ca");
  set("certFile", "mqtt-cert");
  set("keyFile", "mqtt-key");
  if ((settings.certFile === undefined) !== (settings.keyFile === undefined)) {
    throw new EdgeError("USAGE", "--mqtt-cert and --mqtt-key go together (a client certificate needs its key)");
  }
  return settings;
}

/** --repo of a command that reads an existing repository: refused (REPO_INVALID) unless it is one. */
export async function repoFlag(flags: Flags, command: CommandName): Promise<string> {
  const repoDir = required(str(flags, "repo"), "repo", command);
  await requireRepository(repoDir);
  return repoDir;
}

export function report(io: CliIo, value: object, text: string): void {
  io.out(io.json ? `${JSON.stringify(value)}\n` : text);
}

export async function runKeygen(flags: Flags, io: CliIo): Promise<number> {
  const r = await keygen({ outDir: required(str(flags, "out"), "out", "keygen"), force: flags.force === true });
  report(
    io,
    r,
    `wrote ${r.privateKeyPath} (private: keep it secret)\nwrote ${r.publicKeyPath} (list it in each device's trustedKeys)\nkeyid ${r.keyid}\n`,
  );
  return 0;
}

export async function runBuild(flags: Flags, positionals: string[], io: CliIo): Promise<number> {
  if (positionals.length !== 1) {
    throw new EdgeError(
      "USAGE",
      `build takes exactly one MODEL_DIR (found ${positionals.length}; see edge-publish build --help)`,
    );
  }
  const progress = cliProgress(io.progressStream, "build", io.json, { plainAfterMs: PLAIN_PROGRESS_MS });
  let r: Awaited<ReturnType<typeof buildRelease>>;
  try {
    r = await buildRelease({
      modelDir: positionals[0] as string,
      name: required(str(flags, "name"), "name", "build"),
      version: required(str(flags, "version"), "version", "build"),
      repoDir: required(str(flags, "repo"), "repo", "build"),
      keyPath: required(str(flags, "key"), "key", "build"),
      compatibility: compatibilityFlags(str(flags, "arch"), str(flags, "labels")),
      gzipLevel: integerFlag(str(flags, "gzip-level"), "gzip-level", 0, 9),
      onProgress: (done, total) => progress.update(done, total),
    });
  } finally {
    progress.finish();
  }
  const deltaFrom = versionList(str(flags, "delta-from"));
  const deltas =
    deltaFrom.length > 0
      ? await deltasWithProgress(r.release.name, r.release.version, deltaFrom, flags, io, positionals[0])
      : undefined;
  const release = deltas?.release ?? r.release;
  report(
    io,
    {
      name: release.name,
      version: release.version,
      alreadyBuilt: r.alreadyBuilt,
      files: release.files.length,
      bundle: release.bundle,
      releasePath: r.releasePath,
      bundlePath: r.bundlePath,
      ...(deltas ? { deltas: deltas.deltas, channels: deltas.channels.map((c) => c.channel) } : {}),
    },
    `${r.alreadyBuilt ? "already built (same content)" : "built"} ${release.name} ${release.version}: ${release.files.length} files\n` +
      `bundle  ${r.bundlePath} (${release.bundle.size} bytes, sha256 ${release.bundle.sha256})\n` +
      `release ${r.releasePath}\n` +
      (deltas ? describeDeltas(deltas) : ""),
  );
  return 0;
}

function versionList(text: string | undefined): string[] {
  if (text === undefined) return [];
  return text
    .split(",")
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}

async function deltasWithProgress(
  name: string,
  to: string,
  from: string[],
  flags: Flags,
  io: CliIo,
  targetModelDir?: string,
): Promise<DeltaResult> {
  const command = targetModelDir ? "build" : "delta";
  const progress = cliProgress(io.progressStream, "delta", io.json, { plainAfterMs: PLAIN_PROGRESS_MS });
  try {
    return await makeDeltas({
      repoDir: required(str(flags, "repo"), "repo", command),
      name,
      from,
      to,
      keyPath: required(str(flags, "key"), "key", command),
      targetModelDir,
      mqtt: mqttFlags(flags, command, false),
      onProgress: (done, total) => progress.update(done, total),
    });
  } finally {
    progress.finish();
  }
}

function describeDeltas(r: DeltaResult): string {
  const lines = r.deltas.map((d) => {
    const share = d.bundleSize > 0 ? ((100 * d.size) / d.bundleSize).toFixed(1) : "-";
    return d.offered
      ? `delta   from ${d.from}: ${d.size} bytes (${share} % of the bundle) in ${(d.ms / 1000).toFixed(1)} s, ${d.url}\n`
      : `delta   from ${d.from}: ${d.size} bytes, not smaller than the bundle: not offered\n`;
  });
  const channels = r.channels.map((c) => `channel ${c.channel} re-pointed (sequence ${c.sequence})\n`);
  return lines.join("") + channels.join("");
}

export async function runDelta(flags: Flags, io: CliIo): Promise<number> {
  const from = versionList(required(str(flags, "from"), "from", "delta"));
  const r = await deltasWithProgress(
    required(str(flags, "name"), "name", "delta"),
    required(str(flags, "to"), "to", "delta"),
    from,
    flags,
    io,
  );
  report(
    io,
    { name: r.release.name, version: r.release.version, deltas: r.deltas, channels: r.channels.map((c) => c.channel) },
    describeDeltas(r),
  );
  return 0;
}

export async function runPublish(flags: Flags, io: CliIo): Promise<number> {
  const mqtt = mqttFlags(flags, "publish", false);
  const {
    pointer,
    path,
    mqtt: sent,
  } = await publishChannel({
    repoDir: required(str(flags, "repo"), "repo", "publish"),
    name: required(str(flags, "name"), "name", "publish"),
    version: required(str(flags, "version"), "version", "publish"),
    channel: required(str(flags, "channel"), "channel", "publish"),
    keyPath: required(str(flags, "key"), "key", "publish"),
    expiresInDays: positiveNumberFlag(str(flags, "expires-days"), "expires-days"),
    mqtt,
    force: flags.force === true,
  });
  report(
    io,
    sent ? { ...pointer, path, mqtt: sent } : { ...pointer, path },
    `${pointer.name} ${pointer.channel} -> ${pointer.version} (sequence ${pointer.sequence}, expires ${pointer.expiresAt})\nwrote ${path}\n` +
      (sent ? `published to ${sent.topic} (retained, acknowledged)\n` : ""),
  );
  return 0;
}

export async function runServe(flags: Flags, io: CliIo): Promise<number> {
  const repoDir = await repoFlag(flags, "serve");
  const port = integerFlag(required(str(flags, "port"), "port", "serve"), "port", 0, 65535) as number;
  const server = await startRepoServer({ repoDir, port, host: str(flags, "host") });
  report(io, { url: server.url, port: server.port, repoDir }, `serving ${repoDir} at ${server.url} (Ctrl-C to stop)\n`);
  await io.stopRequested;
  await server.close();
  return 0;
}

export async function runFleet(flags: Flags, io: CliIo): Promise<number> {
  return runFleetCommand({
    settings: mqttFlags(flags, "fleet", true) as MqttSettings,
    json: io.json,
    watch: flags.watch === true,
    waitMs: integerFlag(str(flags, "wait-ms"), "wait-ms", 0, 600_000) ?? DEFAULT_FLEET_WAIT_MS,
    warnDays: integerFlag(str(flags, "warn-days"), "warn-days", 0, 3650),
    isTty: io.isTty,
    out: io.out,
    warn: io.warn,
    stopRequested: io.stopRequested,
  });
}

export async function runWatch(flags: Flags, io: CliIo, logger: Logger): Promise<number> {
  const watcher = await startWatch({
    modelsDir: required(str(flags, "models"), "models", "watch"),
    repoDir: required(str(flags, "repo"), "repo", "watch"),
    keyPath: required(str(flags, "key"), "key", "watch"),
    channel: required(str(flags, "channel"), "channel", "watch"),
    name: required(str(flags, "name"), "name", "watch"),
    stableMs: integerFlag(str(flags, "stable-ms"), "stable-ms", 1, 86_400_000),
    deltaBases: integerFlag(str(flags, "deltas"), "deltas", 0, 20),
    mqtt: mqttFlags(flags, "watch", false),
    logger,
  });
  await io.stopRequested;
  await watcher.stop();
  return 0;
}
