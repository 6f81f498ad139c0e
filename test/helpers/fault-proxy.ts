import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/**
 * A real HTTP proxy on a loopback port in front of a repository server, for
 * faults at a chosen byte of a chosen file: a response held after N body bytes
 * until the test lets it go (to fill the disk at that moment), and a kill that
 * looks to the agent like the server process dying (every open connection
 * reset, new ones refused) with a restart on the same port.
 */
export interface ProxyRequest {
  path: string;
  range: string | undefined;
  status: number;
  /** Body bytes handed to the client socket. */
  bytesSent: number;
}

export interface Hold {
  /** Resolves once the first `afterBytes` body bytes are on the client's socket and the rest waits. */
  reached: Promise<void>;
  release(): void;
}

export interface FaultProxy {
  url: string;
  port: number;
  requests: ProxyRequest[];
  /** The next response for a path ending in `suffix` stops after `afterBytes` body bytes until released. */
  holdNext(suffix: string, afterBytes: number): Hold;
  /** Resets every open connection and stops listening, as a killed server would. */
  kill(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

interface PendingHold {
  suffix: string;
  afterBytes: number;
  reached: () => void;
  released: Promise<void>;
}

export async function startFaultProxy(upstreamUrl: string): Promise<FaultProxy> {
  const upstream = new URL(upstreamUrl);
  const requests: ProxyRequest[] = [];
  const holds: PendingHold[] = [];
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;

  const listen = async (): Promise<void> => {
    const s = createServer((req, res) => {
      const record: ProxyRequest = { path: req.url ?? "", range: req.headers.range, status: 0, bytesSent: 0 };
      requests.push(record);
      const index = holds.findIndex((h) => record.path.endsWith(h.suffix));
      const hold = index >= 0 ? holds.splice(index, 1)[0] : undefined;
      forward(upstream, req, res, record, hold).catch(() => res.destroy());
    });
    s.on("connection", (socket: Socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => resolve());
    });
    port = (s.address() as AddressInfo).port;
    server = s;
  };
  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (!s) return;
    for (const socket of sockets) socket.resetAndDestroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  };

  await listen();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    holdNext: (suffix, afterBytes) => {
      let reached!: () => void;
      let release!: () => void;
      const reachedP = new Promise<void>((r) => (reached = r));
      const released = new Promise<void>((r) => (release = r));
      holds.push({ suffix, afterBytes, reached, released });
      return { reached: reachedP, release };
    },
    kill: stop,
    restart: listen,
    close: stop,
  };
}

async function forward(
  upstream: URL,
  req: IncomingMessage,
  res: ServerResponse,
  record: ProxyRequest,
  hold: PendingHold | undefined,
): Promise<void> {
  const upRes = await new Promise<IncomingMessage>((resolve, reject) => {
    const up = request(
      { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers },
      resolve,
    );
    up.on("error", reject);
    up.end();
  });
  record.status = upRes.statusCode ?? 0;
  res.writeHead(record.status, upRes.headers);
  const send = (chunk: Buffer): Promise<void> =>
    new Promise((resolve, reject) =>
      res.write(chunk, (err) => {
        if (err) return reject(err);
        record.bytesSent += chunk.length;
        resolve();
      }),
    );
  try {
    for await (const piece of upRes) {
      let chunk = piece as Buffer;
      if (hold && record.bytesSent + chunk.length >= hold.afterBytes) {
        const head = hold.afterBytes - record.bytesSent;
        await send(chunk.subarray(0, head));
        chunk = chunk.subarray(head);
        const { released } = hold;
        hold.reached();
        hold = undefined;
        await released;
      }
      if (chunk.length > 0) await send(chunk);
    }
    res.end();
  } finally {
    upRes.destroy();
  }
}
