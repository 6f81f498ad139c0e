import { type ClientRequest, request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { EdgeError } from "../../shared/errors.js";

/**
 * One GET with the controls a resumable download needs and `fetch` hides: an idle
 * timer the caller pauses while it writes to disk (so slow storage is not taken
 * for a silent server), prompt abort, and redirects followed by hand.
 */
export class IdleTimeoutError extends Error {
  constructor(readonly ms: number) {
    super(`no data received for ${ms} ms`);
    this.name = "IdleTimeoutError";
  }
}

/** A status worth retrying: the server or something in between is briefly unable to answer. */
export class TransientHttpError extends Error {
  constructor(
    readonly status: number,
    readonly url: string,
  ) {
    super(`HTTP ${status} from ${url}`);
    this.name = "TransientHttpError";
  }
}

export interface OpenedResponse {
  res: IncomingMessage;
  /** The URL that answered, after redirects. */
  url: string;
  /** Restarts the idle countdown: call on every chunk received. */
  touch(): void;
  /** Stops the countdown while the caller is busy with its own I/O. */
  pause(): void;
  /** Ends the request and its timers; safe to call twice. */
  close(): void;
}

export interface GetOptions {
  url: string;
  headers: Record<string, string>;
  idleTimeoutMs: number;
  signal?: AbortSignal;
  maxRedirects?: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export async function openGet(opts: GetOptions): Promise<OpenedResponse> {
  let url = opts.url;
  for (let hop = 0; ; hop++) {
    const opened = await openOnce(url, opts);
    const { res } = opened;
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (!REDIRECTS.has(status) || location === undefined) return opened;
    opened.close();
    if (hop >= (opts.maxRedirects ?? 5)) {
      throw new EdgeError("HTTP_ERROR", `too many redirects fetching ${opts.url} (last: ${url})`);
    }
    url = new URL(location, url).toString();
  }
}

function openOnce(url: string, opts: GetOptions): Promise<OpenedResponse> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    return Promise.reject(new EdgeError("HTTP_ERROR", `not a valid URL: ${url}`, { cause }));
  }
  const send = parsed.protocol === "https:" ? httpsRequest : parsed.protocol === "http:" ? httpRequest : undefined;
  if (!send) {
    return Promise.reject(new EdgeError("HTTP_ERROR", `unsupported protocol ${parsed.protocol} in ${url}`));
  }
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(opts.signal.reason);
      return;
    }
    // agent: false: one connection per attempt, so a retry never reuses a socket that just failed.
    const req: ClientRequest = send(parsed, {
      method: "GET",
      agent: false,
      headers: { "accept-encoding": "identity", ...opts.headers },
    });
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => req.destroy(new IdleTimeoutError(opts.idleTimeoutMs)), opts.idleTimeoutMs);
    };
    const onAbort = (): void => {
      req.destroy(opts.signal?.reason);
    };
    const close = (): void => {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      req.destroy();
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    // `on`, not `once`: a request destroyed after its response can still emit, and must not crash the process.
    req.on("error", (err) => {
      close();
      reject(err);
    });
    req.once("response", (res) => {
      arm();
      resolve({
        res,
        url,
        touch: arm,
        pause: () => clearTimeout(timer),
        close,
      });
    });
    arm();
    req.end();
  });
}

export interface ContentRange {
  start: number;
  end: number;
  total: number | undefined;
}

/** `bytes 100-199/1000` or `bytes 100-199/*`; undefined when malformed. */
export function parseContentRange(value: string | undefined): ContentRange | undefined {
  const match = value === undefined ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value.trim());
  if (!match) return undefined;
  const start = Number(match[1]);
  const end = Number(match[2]);
  const total = match[3] === "*" ? undefined : Number(match[3]);
  if (end < start || (total !== undefined && end >= total)) return undefined;
  return { start, end, total };
}
