import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { DashboardAuth } from "./dashboard-options.js";

/** Compared as digests so neither the length nor the content leaks through timing. */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The token from `Authorization: Bearer T`, else from `?token=T` (EventSource cannot set headers). */
function givenToken(req: IncomingMessage, url: URL): string | undefined {
  const header = req.headers.authorization;
  if (header?.startsWith("Bearer ")) return header.slice("Bearer ".length);
  return url.searchParams.get("token") ?? undefined;
}

function givenBasic(req: IncomingMessage): { user: string; password: string } | undefined {
  const header = req.headers.authorization;
  if (!header?.startsWith("Basic ")) return undefined;
  const decoded = Buffer.from(header.slice("Basic ".length), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export type AuthVerdict = { ok: true } | { ok: false; challenge?: string; message: string };

/** Whether a request may read the dashboard, and what to answer when not. */
export function checkAuth(auth: DashboardAuth, req: IncomingMessage, url: URL): AuthVerdict {
  switch (auth.kind) {
    case "none":
      return { ok: true };
    case "token": {
      const token = givenToken(req, url);
      if (token !== undefined && sameSecret(token, auth.token)) return { ok: true };
      return { ok: false, message: "this dashboard needs its token: open it as /?token=T or send Authorization: Bearer T" };
    }
    case "basic": {
      const given = givenBasic(req);
      // Both compared, always, so a wrong user costs the same time as a wrong password.
      const userOk = sameSecret(given?.user ?? "", auth.user);
      const passwordOk = sameSecret(given?.password ?? "", auth.password);
      if (given && userOk && passwordOk) return { ok: true };
      return {
        ok: false,
        challenge: 'Basic realm="edgepull dashboard", charset="UTF-8"',
        message: "this dashboard needs its user name and password",
      };
    }
  }
}
