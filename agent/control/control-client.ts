import { request } from "node:http";
import { EdgeError, type ErrorCode, isEdgeError } from "../../shared/errors.js";

/**
 * Asks a running daemon to act. Resolves to undefined when no daemon listens
 * (no socket, or a stale one), so the caller can act itself.
 */
export function callDaemon<T>(socketPath: string, route: string, body: Record<string, unknown> = {}): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method: "POST", path: route }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
            result?: T;
            error?: { code: ErrorCode; message: string };
          };
          if (body.error) reject(new EdgeError(body.error.code, body.error.message));
          else resolve(body.result as T);
        } catch (cause) {
          reject(new EdgeError("INTERNAL", "the daemon's answer was not JSON", { cause }));
        }
      });
      res.on("error", reject);
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT" || err.code === "ECONNREFUSED") resolve(undefined);
      else reject(isEdgeError(err) ? err : new EdgeError("INTERNAL", `control socket: ${err.message}`, { cause: err }));
    });
    req.end(JSON.stringify(body));
  });
}
