import { EdgeError } from "../../shared/errors.js";
import { type OpenedResponse, openGet } from "../bundle/http-get.js";

/** Metadata documents are small; a server sending more is broken or hostile. */
export const METADATA_MAX_BYTES = 1024 * 1024;

/** As many as `fetch` follows. */
const MAX_REDIRECTS = 20;

export type FetchResult =
  | { status: "not-modified" }
  | { status: "not-found" }
  | { status: "ok"; text: string; etag: string | undefined };

/**
 * GET a small document with an optional ETag, a size cap and a timeout.
 * Over node:http rather than `fetch`: the first `fetch` loads undici and
 * compiles its WebAssembly HTTP parser, which left an idle daemon about
 * 13 MiB larger (polling every 5 s) for the rest of its life (see README, Benchmarks).
 */
export async function fetchMetadata(
  url: string,
  opts: {
    etag?: string;
    timeoutMs: number;
    signal?: AbortSignal;
    maxBytes?: number;
    /** A 404 is an answer ("no such document yet"), not an error. */
    notFoundIsAnswer?: boolean;
  },
): Promise<FetchResult> {
  const maxBytes = opts.maxBytes ?? METADATA_MAX_BYTES;
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  const failed = (cause: unknown): unknown => {
    if (opts.signal?.aborted) return opts.signal.reason;
    if (cause instanceof EdgeError) return cause;
    // Past the headers, a timeout surfaces as the socket's "aborted": name the timeout instead.
    const why = timeout.aborted ? timeout.reason : cause;
    return new EdgeError("HTTP_ERROR", `GET ${url} failed: ${(why as Error).message}`, { cause: why });
  };
  let opened: OpenedResponse;
  try {
    opened = await openGet({
      url,
      headers: opts.etag ? { "if-none-match": opts.etag } : {},
      // The whole exchange is bounded by `timeout`; the idle timer is only a backstop.
      idleTimeoutMs: opts.timeoutMs,
      signal,
      maxRedirects: MAX_REDIRECTS,
    });
  } catch (cause) {
    throw failed(cause);
  }
  try {
    const { res } = opened;
    const status = res.statusCode ?? 0;
    if (status === 304) return { status: "not-modified" };
    if (status === 404 && opts.notFoundIsAnswer) return { status: "not-found" };
    if (status !== 200) {
      throw new EdgeError("HTTP_ERROR", `GET ${url} answered ${status} ${res.statusMessage ?? ""}`);
    }
    const declared = Number(res.headers["content-length"] ?? "0");
    if (declared > maxBytes) {
      throw new EdgeError("SIZE_MISMATCH", `${url} is ${declared} bytes, more than the ${maxBytes} allowed for metadata`);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      opened.touch();
      total += chunk.length;
      if (total > maxBytes) {
        throw new EdgeError("SIZE_MISMATCH", `${url} sent more than the ${maxBytes} bytes allowed for metadata`);
      }
      chunks.push(chunk);
    }
    return { status: "ok", text: Buffer.concat(chunks).toString("utf8"), etag: res.headers.etag };
  } catch (cause) {
    throw failed(cause);
  } finally {
    opened.close();
  }
}
