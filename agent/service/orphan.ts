import { readFile, rm } from "node:fs/promises";
import { sleep } from "../../shared/backoff.js";
import { writeFileAtomic } from "../../shared/fs-atomic.js";
import type { Logger } from "../logging.js";
import { isAlive, readProcStat, signalGroup, signalProcess } from "./process-group.js";

/**
 * The pid file names the supervised service so a later agent process can stop
 * it after this one was killed with -9 (its detached child keeps running and
 * holds the port). The start time makes the record specific: a pid the kernel
 * has since given to another process is never signalled.
 */
export interface PidRecord {
  pid: number;
  startTime: string | null;
  command: string[];
}

export async function writePidFile(path: string, record: PidRecord): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(record)}\n`);
}

export function parsePidRecord(text: string): PidRecord | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "not JSON";
  }
  if (typeof value !== "object" || value === null) return "not a JSON object";
  const r = value as Record<string, unknown>;
  if (typeof r.pid !== "number" || !Number.isInteger(r.pid) || r.pid <= 1) return `pid ${String(r.pid)} is not a process id`;
  if (r.startTime !== null && typeof r.startTime !== "string") return "startTime is neither a string nor null";
  const command = Array.isArray(r.command) ? r.command.filter((c): c is string => typeof c === "string") : [];
  return { pid: r.pid, startTime: r.startTime, command };
}

/**
 * Stops the process recorded in `pidFile` if it is still the one we started:
 * SIGTERM to its group, SIGKILL after `stopTimeoutMs`. Removes the file either
 * way. True if a process was stopped.
 */
export async function killRecordedProcess(
  pidFile: string,
  stopTimeoutMs: number,
  logger: Logger,
  /** What the process is, for the log lines (the service, a validator). */
  what = "service",
): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(pidFile, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
  const record = parsePidRecord(text);
  await rm(pidFile, { force: true });
  if (typeof record === "string") {
    logger.warn({ pidFile, problem: record }, `ignoring an unreadable ${what} pid file`);
    return false;
  }
  const { pid, startTime } = record;
  const stat = await readProcStat(pid);
  if (!stat || stat.state === "Z") return false;
  if (startTime === null || stat.startTime !== startTime) {
    logger.info(
      { pid, recordedStartTime: startTime, foundStartTime: stat.startTime },
      `pid from the ${what} pid file now belongs to another process; leaving it alone`,
    );
    return false;
  }
  // We spawned it as a group leader; if that changed, signal only the process itself.
  const group = stat.pgrp === pid;
  const send = (signal: NodeJS.Signals): void => {
    if (group) signalGroup(pid, signal);
    else signalProcess(pid, signal);
  };
  logger.warn({ pid, command: record.command }, `stopping a ${what} left running by a previous agent process`);
  send("SIGTERM");
  const deadline = Date.now() + stopTimeoutMs;
  while (Date.now() < deadline && (await isAlive(pid, startTime))) await sleep(25);
  if (await isAlive(pid, startTime)) {
    logger.warn({ pid, stopTimeoutMs }, `orphaned ${what} ignored SIGTERM; sending SIGKILL`);
    send("SIGKILL");
    // A process stuck in uninterruptible sleep dies only when the kernel lets it; do not hang on it.
    const killDeadline = Date.now() + 5000;
    while (Date.now() < killDeadline && (await isAlive(pid, startTime))) await sleep(25);
  } else if (group) {
    // The leader is gone; anything else left in its group (helpers that ignored SIGTERM) goes too.
    signalGroup(pid, "SIGKILL");
  }
  return true;
}
