import type { CheckResult, InstallResult } from "../agent.js";
import { type ControlCall, noRequest, type RequestParsers } from "../control/envelope.js";
import type { AttemptRow } from "../state/store.js";

/**
 * The daemon's control routes, defined once: `edge-agent run` serves them,
 * `check`, `rollback` and `install` call them when a daemon runs.
 */
export type DaemonRoutes = {
  "/check": ControlCall<Record<string, never>, CheckResult>;
  "/rollback": ControlCall<Record<string, never>, AttemptRow>;
  "/install": ControlCall<{ path: string }, InstallResult>;
};

export const DAEMON_REQUESTS: RequestParsers<DaemonRoutes> = {
  "/check": noRequest,
  "/rollback": noRequest,
  "/install": (body) => {
    if (typeof body.path !== "string") throw new Error("install needs a path");
    return { path: body.path };
  },
};
