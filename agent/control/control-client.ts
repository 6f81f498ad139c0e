import { request } from "node:http";
import { EdgeError, isEdgeError } from "../../shared/errors.js";
import { type ReplyOf, type RequestOf, unwrapControlReply } from "./envelope.js";

/**
 * Asks a running daemon to act. Resolves to undefined when no daemon listens
 * (no socket, or a stale one), so the caller can act itself.
 */
export function callDaemon<R, K extends keyof R & string>(
  socketPath: string,
  route: K,
  payload: RequestOf<R, K>,
): Promise<ReplyOf<R, K> | undefined> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method: "POST", path: route }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        try {
          // The daemon built this reply for this route (the same route table on both sides).
          resolve(unwrapControlReply(Buffer.concat(chunks).toString("utf8")) as ReplyOf<R, K>);
        } catch (err) {
          reject(err);
        }
      });
      res.on("error", reject);
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT" || err.code === "ECONNREFUSED") resolve(undefined);
      else reject(isEdgeError(err) ? err : new EdgeError("INTERNAL", `control socket: ${err.message}`, { cause: err }));
    });
    req.end(JSON.stringify(payload));
  });
}
