import { type FileHandle, open, realpath } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join, sep } from "node:path";
import { pipeline } from "node:stream/promises";
import { IO_CHUNK } from "../shared/digest.js";
import { EdgeError } from "../shared/errors.js";
import {
  cacheControlFor,
  contentTypeFor,
  ifNoneMatchHits,
  ifRangeAllows,
  makeEtag,
  parseRange,
  requestedPath,
} from "./http-semantics.js";

export interface RepoServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface RepoServerOptions {
  repoDir: string;
  port: number;
  /** Default 127.0.0.1; pass 0.0.0.0 to serve other machines. */
  host?: string;
}

/**
 * Opens the file a path names if, after resolving every symlink, it is a regular
 * file inside the repository; undefined otherwise. The repository is resolved per
 * request because it may not exist yet when the server starts.
 */
async function openInside(repoDir: string, rel: string): Promise<FileHandle | undefined> {
  try {
    const root = await realpath(repoDir);
    const real = await realpath(join(root, rel));
    if (!real.startsWith(root + sep)) return undefined;
    const handle = await open(real, "r");
    if ((await handle.stat()).isFile()) return handle;
    await handle.close();
    return undefined;
  } catch {
    return undefined;
  }
}

function finish(res: ServerResponse, status: number, headers: Record<string, string | number> = {}): void {
  res.writeHead(status, headers);
  res.end();
}

async function serve(repoDir: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    finish(res, 405, { Allow: "GET, HEAD", "Content-Length": 0 });
    return;
  }
  const rel = requestedPath(req.url);
  const handle = rel === undefined ? undefined : await openInside(repoDir, rel);
  if (rel === undefined || !handle) {
    finish(res, 404, { "Content-Length": 0 });
    return;
  }
  let streaming = false;
  try {
    const st = await handle.stat({ bigint: true });
    const size = Number(st.size);
    const etag = makeEtag(st.size, st.mtimeNs);
    const lastModified = new Date(Number(st.mtimeMs)).toUTCString();
    const common: Record<string, string | number> = { ETag: etag, "Last-Modified": lastModified, "Accept-Ranges": "bytes" };
    const cache = cacheControlFor(rel);
    if (cache) common["Cache-Control"] = cache;

    if (ifNoneMatchHits(req.headers["if-none-match"], etag)) {
      finish(res, 304, common);
      return;
    }
    const ifRange = req.headers["if-range"];
    const range = ifRangeAllows(typeof ifRange === "string" ? ifRange : undefined, etag, lastModified)
      ? parseRange(req.headers.range, size)
      : ({ kind: "none" } as const);
    if (range.kind === "unsatisfiable") {
      finish(res, 416, { ...common, "Content-Range": `bytes */${size}`, "Content-Length": 0 });
      return;
    }
    const start = range.kind === "range" ? range.start : 0;
    const end = range.kind === "range" ? range.end : size - 1;
    const headers: Record<string, string | number> = {
      ...common,
      "Content-Type": contentTypeFor(rel),
      "Content-Length": end - start + 1,
    };
    if (range.kind === "range") headers["Content-Range"] = `bytes ${start}-${end}/${size}`;
    res.writeHead(range.kind === "range" ? 206 : 200, headers);
    if (req.method === "HEAD" || size === 0) {
      res.end();
      return;
    }
    streaming = true;
    // The stream owns the handle from here and closes it at the end or on error.
    await pipeline(handle.createReadStream({ start, end, highWaterMark: IO_CHUNK }), res);
  } finally {
    if (!streaming) await handle.close();
  }
}

/** A port another program holds is the operator's to sort out, not a bug: PORT_IN_USE names it. */
export function listenError(err: NodeJS.ErrnoException, host: string, port: number): Error {
  if (err.code === "EADDRINUSE") {
    return new EdgeError(
      "PORT_IN_USE",
      `port ${port} on ${host} is already in use (choose another --port, or 0 for a free one)`,
      {
        cause: err,
      },
    );
  }
  return err;
}

export async function startRepoServer(opts: RepoServerOptions): Promise<RepoServer> {
  const host = opts.host ?? "127.0.0.1";
  const server = createServer((req, res) => {
    serve(opts.repoDir, req, res).catch(() => {
      // A client that goes away mid-body lands here; nothing to tell it.
      if (!res.headersSent) finish(res, 500, { "Content-Length": 0 });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => reject(listenError(err, host, opts.port));
    server.once("error", onError);
    server.listen(opts.port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Keep-alive connections would hold close() open until they time out.
        server.closeAllConnections();
      }),
  };
}
