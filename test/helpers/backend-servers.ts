import { type Agent, createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A real loopback HTTP server standing for one model version's process. */
export interface TestBackend {
  version: string;
  host: string;
  port: number;
  server: Server;
  close: () => Promise<void>;
}

export async function startBackend(
  version: string,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<TestBackend> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    version,
    host: "127.0.0.1",
    port,
    server,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request through `agent` (keep-alive when the caller's agent is); the body is read whole (tests only). */
export function send(
  port: number,
  opts: { method?: string; path?: string; body?: string; agent?: Agent | false; headers?: Record<string, string> } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method: opts.method ?? "GET",
        path: opts.path ?? "/",
        agent: opts.agent ?? false,
        headers: opts.headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}
