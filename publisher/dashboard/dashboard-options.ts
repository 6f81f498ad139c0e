import { isIP } from "node:net";
import { EdgeError } from "../../shared/errors.js";

/**
 * Who may read the dashboard. It shows every device's id, versions and errors,
 * so anything reachable from another machine needs a secret.
 */
export type DashboardAuth =
  | { kind: "none" }
  | { kind: "token"; token: string }
  | { kind: "basic"; user: string; password: string };

export interface DashboardListen {
  host: string;
  port: number;
  auth: DashboardAuth;
}

export const DEFAULT_DASHBOARD_HOST = "127.0.0.1";
export const DEFAULT_DASHBOARD_PORT = 8080;
/** Short tokens are guessable over a network; 16 characters of anything is the floor. */
export const MIN_TOKEN_LENGTH = 16;

/** 127.0.0.0/8, ::1 and the name localhost: reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  if (isIP(host) === 6) return host === "::1" || host === "0:0:0:0:0:0:0:1";
  return false;
}

function parseAuth(token: string | undefined, basic: string | undefined): DashboardAuth {
  if (token !== undefined && basic !== undefined) {
    throw new EdgeError("USAGE", "dashboard takes --token or --basic-auth, not both");
  }
  if (token !== undefined) {
    if (token.length < MIN_TOKEN_LENGTH) {
      throw new EdgeError("USAGE", `--token must be at least ${MIN_TOKEN_LENGTH} characters (found ${token.length})`);
    }
    return { kind: "token", token };
  }
  if (basic !== undefined) {
    const colon = basic.indexOf(":");
    const user = colon < 0 ? "" : basic.slice(0, colon);
    const password = colon < 0 ? "" : basic.slice(colon + 1);
    if (user === "" || password === "") {
      throw new EdgeError("USAGE", "--basic-auth takes USER:PASS, both non-empty (found no user or no password)");
    }
    return { kind: "basic", user, password };
  }
  return { kind: "none" };
}

/**
 * --host, --port, --token, --basic-auth of `edge-publish dashboard`. Binding
 * anything but loopback without a secret is refused (USAGE): the page would be
 * open to the whole network.
 */
export function parseDashboardListen(flags: {
  host?: string;
  port?: number;
  token?: string;
  basicAuth?: string;
}): DashboardListen {
  const host = flags.host ?? DEFAULT_DASHBOARD_HOST;
  if (host === "") throw new EdgeError("USAGE", "--host must not be empty");
  const auth = parseAuth(flags.token, flags.basicAuth);
  if (!isLoopbackHost(host) && auth.kind === "none") {
    throw new EdgeError(
      "USAGE",
      `--host ${host} is not a loopback address: the dashboard shows every device to whoever reaches it, ` +
        "so binding it needs --token T or --basic-auth USER:PASS",
    );
  }
  return { host, port: flags.port ?? DEFAULT_DASHBOARD_PORT, auth };
}
