import { createServer } from "node:net";

/**
 * A loopback port nothing listens on now, for the next version's process. The
 * kernel could hand it to someone else before the service binds it; the
 * service then fails to start and the attempt fails before any switch, which
 * is safe.
 */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no port was assigned"))));
    });
  });
}
