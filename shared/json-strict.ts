/**
 * Signed metadata comes from outside, and JSON.parse accepts more than a
 * signature can safely cover: a repeated key (JSON.parse keeps the last, other
 * readers such as jq or an auditor's script may keep the first, so the same
 * bytes would mean two things), numbers too large for a double (read as
 * Infinity, which canonical JSON cannot encode, so the signature cannot even
 * be checked) and nesting deep enough to exhaust the stack of any recursive
 * reader. Our documents nest a handful of levels; MAX_JSON_DEPTH leaves room.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * The first such problem in `text`, which JSON.parse has already accepted (so
 * the scan can trust its structure), or undefined. One pass, no recursion.
 */
export function strictJsonProblem(text: string, maxDepth = MAX_JSON_DEPTH): string | undefined {
  // One entry per open container: the keys seen so far for an object, null for an array.
  const open: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      const keys = open.at(-1);
      if (expectKey && keys) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (keys.has(key)) return `the key ${JSON.stringify(key)} appears twice in one object`;
        keys.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (open.length >= maxDepth) return `it nests deeper than ${maxDepth} levels`;
      open.push(c === OPEN_BRACE ? new Set() : null);
      expectKey = c === OPEN_BRACE;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      open.pop();
    } else if (c === COMMA) {
      expectKey = open.at(-1) instanceof Set;
    } else if (c === MINUS || (c >= DIGIT_0 && c <= DIGIT_9)) {
      let end = i + 1;
      while (end < text.length && NUMBER_CHARS.has(text.charCodeAt(end))) end++;
      const token = text.slice(i, end);
      if (!Number.isFinite(Number(token))) return `the number ${token.slice(0, 40)} is out of range`;
      i = end - 1;
    }
  }
  return undefined;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const NUMBER_CHARS = new Set([..."0123456789+-.eE"].map((ch) => ch.charCodeAt(0)));

/** Index of the quote closing the string that opens at `start`. */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i;
  }
  return text.length;
}
