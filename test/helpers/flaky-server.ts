import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A real HTTP server on a loopback port serving one buffer with Range support,
 * misbehaving on request as planned: each request takes the next behaviour from
 * the plan; when the plan is empty it serves correctly.
 */
export interface Behaviour {
  /** Answer this status with a short text body instead of the content. */
  status?: number;
  /** Answer 200 with the whole body, as if Range were not understood. */
  ignoreRange?: boolean;
  /** Destroy the socket after this many body bytes. */
  dropAfter?: number;
  /** Send this many body bytes, then nothing, keeping the connection open. */
  stallAfter?: number;
  /** Append this many bytes of junk to the body (Content-Length counts them unless `chunked`). */
  extraBytes?: number;
  /** Send without Content-Length (chunked transfer encoding). */
  chunked?: boolean;
}

export interface RequestRecord {
  range: string | undefined;
  status: number;
  /** Body bytes handed to the socket. */
  bytesSent: number;
}

export interface FlakyServer {
  url: string;
  requests: RequestRecord[];
  /** Queues behaviours for the next requests, in order. */
  plan(...behaviours: Behaviour[]): void;
  totalBytesSent(): number;
  close(): Promise<void>;
}

export async function startFlakyServer(body: Buffer, behaviours: Behaviour[] = []): Promise<FlakyServer> {
  const queue = [...behaviours];
  const requests: RequestRecord[] = [];
  const server = createServer((req, res) => {
    const record: RequestRecord = { range: req.headers.range, status: 0, bytesSent: 0 };
    requests.push(record);
    serve(req, res, body, queue.shift() ?? {}, record);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/bundle.tar.gz`,
    requests,
    plan: (...more) => {
      queue.push(...more);
    },
    totalBytesSent: () => requests.reduce((sum, r) => sum + r.bytesSent, 0),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function serve(req: IncomingMessage, res: ServerResponse, body: Buffer, b: Behaviour, record: RequestRecord): void {
  if (b.status !== undefined) {
    record.status = b.status;
    res.writeHead(b.status, { "content-type": "text/plain" });
    res.end(`status ${b.status}\n`);
    return;
  }
  const range = b.ignoreRange ? undefined : parseRange(req.headers.range, body.length);
  if (range === "unsatisfiable") {
    record.status = 416;
    res.writeHead(416, { "content-range": `bytes */${body.length}` });
    res.end();
    return;
  }
  const start = range?.start ?? 0;
  const slice = Buffer.concat([body.subarray(start), Buffer.alloc(b.extraBytes ?? 0, 0x5a)]);
  const headers: Record<string, string | number> = { "content-type": "application/gzip", "accept-ranges": "bytes" };
  if (!b.chunked) headers["content-length"] = slice.length;
  if (range) headers["content-range"] = `bytes ${start}-${body.length - 1}/${body.length}`;
  record.status = range ? 206 : 200;
  res.writeHead(record.status, headers);

  const limit = b.dropAfter ?? b.stallAfter;
  if (limit === undefined) {
    record.bytesSent = slice.length;
    res.end(slice);
    return;
  }
  const part = slice.subarray(0, limit);
  record.bytesSent = part.length;
  res.write(part, () => {
    // Wait until the bytes are on the socket, so the client really receives them before the cut.
    if (b.dropAfter !== undefined) res.socket?.destroy();
  });
}

function parseRange(header: string | undefined, size: number): { start: number } | "unsatisfiable" | undefined {
  const match = header === undefined ? null : /^bytes=(\d+)-$/.exec(header);
  if (!match) return undefined;
  const start = Number(match[1]);
  return start >= size ? "unsatisfiable" : { start };
}
