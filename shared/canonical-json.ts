/**
 * Canonical JSON for signing: object keys sorted by UTF-16 code unit, no
 * whitespace, no undefined members. Signers and verifiers must produce the same
 * bytes from the same value, so non-finite numbers and non-plain values are refused.
 */
export function canonicalJson(value: unknown): string {
  return encode(value, "$");
}

function encode(value: unknown, at: string): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON: ${at} is not a finite number`);
      return JSON.stringify(value);
    case "string":
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) return `[${value.map((item, i) => encode(item, `${at}[${i}]`)).join(",")}]`;
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new TypeError(`canonical JSON: ${at} is not a plain object`);
      }
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${encode(v, `${at}.${k}`)}`).join(",")}}`;
    }
    default:
      throw new TypeError(`canonical JSON: ${at} has unsupported type ${typeof value}`);
  }
}
