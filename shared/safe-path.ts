/** NAME_MAX on Linux filesystems: a longer name cannot be created anywhere. */
export const MAX_SEGMENT_BYTES = 255;

/**
 * Payload paths are relative POSIX paths inside a version folder. Anything that
 * could resolve outside it, or that differs between platforms, is refused here,
 * once, for the publisher, the manifest parser and the extractor alike.
 */
export function unsafePathReason(path: string): string | undefined {
  if (typeof path !== "string" || path.length === 0) return "is empty";
  if (path.length > 4096) return "is longer than 4096 characters";
  if (path.startsWith("/")) return "is absolute";
  if (/^[A-Za-z]:/.test(path)) return "has a drive letter";
  if (path.includes("\\")) return "contains a backslash";
  if (path.includes("\0")) return "contains a NUL byte";
  if (/\p{Cc}/u.test(path)) return "contains a control character";
  // A lone surrogate has no UTF-8 form: written to disk it becomes U+FFFD, so two such names would be one file.
  if (/\p{Cs}/u.test(path)) return "is not valid Unicode (a lone surrogate)";
  // Bidirectional controls make a listing show another name than the file's ("Trojan Source").
  if (/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/.test(path)) return "contains a bidirectional control character";
  const parts = path.split("/");
  for (const part of parts) {
    if (part === "") return "has an empty segment";
    if (part === "." || part === "..") return `has a '${part}' segment`;
    if (Buffer.byteLength(part, "utf8") > MAX_SEGMENT_BYTES) return `has a segment longer than ${MAX_SEGMENT_BYTES} bytes`;
  }
  return undefined;
}

export function isSafeRelativePath(path: string): boolean {
  return unsafePathReason(path) === undefined;
}
