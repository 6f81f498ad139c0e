import { EdgeError } from "../../shared/errors.js";

/** How long one request may take before inspect gives up on it. */
const REQUEST_TIMEOUT_MS = 30_000;

export function isHttpUrl(text: string): boolean {
  return /^https?:\/\//i.test(text);
}

async function get(url: string, signal: AbortSignal): Promise<Response> {
  try {
    return await fetch(url, { signal, redirect: "follow" });
  } catch (cause) {
    const why = cause instanceof Error && cause.cause instanceof Error ? cause.cause.message : (cause as Error).message;
    throw new EdgeError("HTTP_ERROR", `GET ${url} failed: ${why}`, { cause });
  }
}

function statusError(url: string, res: Response): EdgeError {
  return new EdgeError("HTTP_ERROR", `GET ${url} answered ${res.status} ${res.statusText}`.trim());
}

/** A small document (a release.json), at most `maxBytes`, as text. */
export async function fetchText(url: string, maxBytes: number): Promise<string> {
  const res = await get(url, AbortSignal.timeout(REQUEST_TIMEOUT_MS));
  if (!res.ok) throw statusError(url, res);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += chunk.length;
    if (size > maxBytes) throw new EdgeError("DOWNLOAD_TOO_LARGE", `GET ${url}: more than ${maxBytes} bytes`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * A large file (a bundle) as a stream: the reader takes what it needs and
 * stops, which cancels the transfer, so the rest need not cross the network.
 * undefined on 404.
 */
export async function openStream(url: string): Promise<AsyncIterable<Buffer> | undefined> {
  const res = await get(url, AbortSignal.timeout(REQUEST_TIMEOUT_MS));
  if (res.status === 404) {
    await res.body?.cancel();
    return undefined;
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw statusError(url, res);
  }
  const body = res.body;
  return (async function* () {
    for await (const chunk of body ?? []) yield Buffer.from(chunk);
  })();
}
