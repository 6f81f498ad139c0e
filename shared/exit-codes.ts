import type { EdgeError } from "./errors.js";

/** The exit codes of both binaries, documented in the README ("Exit codes"). */
export const EXIT = {
  OK: 0,
  /** Failed or degraded: the reason is printed. */
  FAILED: 1,
  /** A usage or configuration error: nothing was done. */
  USAGE: 2,
  /** Another process is changing the device (edge-agent only). */
  BUSY: 3,
} as const;

export function exitCodeFor(err: EdgeError): number {
  if (err.code === "USAGE" || err.code === "CONFIG_INVALID") return EXIT.USAGE;
  if (err.code === "AGENT_BUSY") return EXIT.BUSY;
  return EXIT.FAILED;
}
