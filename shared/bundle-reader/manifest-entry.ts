import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { extract as tarExtract } from "tar-stream";
import { MANIFEST_ENTRY, MANIFEST_MAX_BYTES } from "../bundle-format.js";
import { EdgeError, type ErrorCode } from "../errors.js";

/**
 * Reads the first entry of a bundle, which must be its manifest, and stops:
 * the payload after it is neither decompressed nor read (the agent's sideload
 * check, `edge-publish inspect`). A bundle whose payload is damaged still gives
 * up its manifest. `label` names the bundle in errors; a source that fails to
 * deliver bytes is reported with `readFailed`.
 */
export function readManifestEntry(
  source: AsyncIterable<Buffer>,
  label: string,
  readFailed: ErrorCode = "USAGE",
): Promise<string> {
  const extract = tarExtract();
  const gunzip = createGunzip();
  const input = Readable.from(source, { objectMode: false });
  const done = new Promise<string>((resolvePromise, reject) => {
    let settled = false;
    const finish = (err: Error | undefined, text?: string): void => {
      if (settled) return;
      settled = true;
      input.destroy();
      gunzip.destroy();
      extract.destroy();
      if (err) reject(err);
      else resolvePromise(text as string);
    };
    extract.on("entry", (header, stream) => {
      if (header.name !== MANIFEST_ENTRY || header.type !== "file") {
        finish(new EdgeError("BUNDLE_CORRUPT", `${label}: the first entry is ${header.name}, not ${MANIFEST_ENTRY}`));
        return;
      }
      if ((header.size ?? 0) > MANIFEST_MAX_BYTES) {
        finish(new EdgeError("ENTRY_TOO_LARGE", `${label}: ${MANIFEST_ENTRY} is larger than ${MANIFEST_MAX_BYTES} bytes`));
        return;
      }
      const chunks: Buffer[] = [];
      stream.on("data", (c) => chunks.push(c as Buffer));
      stream.on("end", () => finish(undefined, Buffer.concat(chunks).toString("utf8")));
      stream.on("error", (err) => finish(err));
    });
    const corrupt = (err: Error): void =>
      finish(new EdgeError("BUNDLE_CORRUPT", `${label} is not a gzip tar bundle: ${err.message}`, { cause: err }));
    extract.on("error", corrupt);
    gunzip.on("error", corrupt);
    input.on("error", (err) => finish(new EdgeError(readFailed, `cannot read ${label}: ${err.message}`, { cause: err })));
    extract.on("finish", () => finish(new EdgeError("BUNDLE_TRUNCATED", `${label} ends before its manifest`)));
  });
  input.pipe(gunzip).pipe(extract);
  return done;
}
