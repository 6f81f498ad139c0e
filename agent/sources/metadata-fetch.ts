import { EdgeError } from "../../shared/errors.js";

/** Metadata documents are small; a server sending more is broken or hostile. */
export const METADATA_MAX_BYTES = 1024 * 1024;

export type FetchResult = { status: "not-modified" } | { status: "ok"; text: string; etag: string | undefined };

/** GET a small document with an optional ETag, a size cap and a timeout. */
export async function fetchMetadata(
  url: string,
  opts: { etag?: string; timeoutMs: number; signal?: AbortSignal; maxBytes?: number },
): Promise<FetchResult> {
  const maxBytes = opts.maxBytes ?? METADATA_MAX_BYTES;
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  let res: Response;
  try {
    res = await fetch(url, {
      headers: opts.etag ? { "if-none-match": opts.etag } : {},
      signal,
      redirect: "follow",
    });
  } catch (cause) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    throw new EdgeError("HTTP_ERROR", `GET ${url} failed: ${(cause as Error).message}`, { cause });
  }
  if (res.status === 304) return { status: "not-modified" };
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => {});
    throw new EdgeError("HTTP_ERROR", `GET ${url} answered ${res.status} ${res.statusText}`);
  }
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    await res.body?.cancel().catch(() => {});
    throw new EdgeError("SIZE_MISMATCH", `${url} is ${declared} bytes, more than the ${maxBytes} allowed for metadata`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  if (res.body) {
    for await (const chunk of res.body) {
      total += chunk.length;
      if (total > maxBytes) {
        throw new EdgeError("SIZE_MISMATCH", `${url} sent more than the ${maxBytes} bytes allowed for metadata`);
      }
      chunks.push(Buffer.from(chunk));
    }
  }
  const text = Buffer.concat(chunks).toString("utf8");
  return { status: "ok", text, etag: res.headers.get("etag") ?? undefined };
}
