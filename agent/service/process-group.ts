import { readFile } from "node:fs/promises";

/**
 * Process helpers for a child spawned with `detached: true`: it leads its own
 * process group, so signalling `-pid` reaches everything it started too.
 */

/** Sends `signal` to the process group led by `pgid`; false if nothing was there. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  return signalProcess(-pgid, signal);
}

/** process.kill that reports a missing target as false instead of throwing. */
export function signalProcess(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
}

export interface ProcStat {
  state: string;
  pgrp: number;
  /** Clock ticks since boot (field 22): with the pid, it names one process for good. */
  startTime: string;
}

/** Fields of /proc/<pid>/stat, or undefined when the process does not exist (or /proc is not there). */
export async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself hold spaces or ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  const pgrp = Number(fields[2]);
  const startTime = fields[19];
  if (!state || !Number.isInteger(pgrp) || !startTime) return undefined;
  return { state, pgrp, startTime };
}

/** True while the process exists and is not a zombie waiting to be reaped. */
export async function isAlive(pid: number, startTime: string): Promise<boolean> {
  const stat = await readProcStat(pid);
  return stat !== undefined && stat.startTime === startTime && stat.state !== "Z" && stat.state !== "X";
}
