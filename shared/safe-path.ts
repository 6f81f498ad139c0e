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
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f]/.test(path)) return "contains a control character";
  const parts = path.split("/");
  for (const part of parts) {
    if (part === "") return "has an empty segment";
    if (part === "." || part === "..") return `has a '${part}' segment`;
  }
  return undefined;
}

export function isSafeRelativePath(path: string): boolean {
  return unsafePathReason(path) === undefined;
}
