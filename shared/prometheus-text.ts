/**
 * A reader of the Prometheus text exposition format 0.0.4: what an inference
 * service's `/metrics` serves and what metric gates judge. Small on purpose:
 * samples with their labels and values; comments are read only for the
 * families they declare (`# TYPE`, `# HELP`), timestamps are ignored.
 * Pure: no I/O, never throws on input; a malformed line is a problem naming it.
 */

export interface MetricSample {
  name: string;
  labels: Readonly<Record<string, string>>;
  /** May be NaN or ±Infinity, as the format allows. */
  value: number;
}

export interface MetricText {
  samples: MetricSample[];
  /** Family names a `# TYPE` or `# HELP` line declares, with or without samples. */
  declared: Set<string>;
}

export type ParseResult = { ok: true; text: MetricText } | { ok: false; problem: string };

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

export function parseMetricText(input: string): ParseResult {
  const samples: MetricSample[] = [];
  const declared = new Set<string>();
  const lines = input.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/\r$/, "").trim();
    if (line === "") continue;
    if (line.startsWith("#")) {
      const meta = /^#\s+(?:TYPE|HELP)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
      if (meta?.[1]) declared.add(meta[1]);
      continue;
    }
    const sample = parseSampleLine(line);
    if (typeof sample === "string") return { ok: false, problem: `line ${i + 1}: ${sample}: ${clip(line)}` };
    samples.push(sample);
  }
  return { ok: true, text: { samples, declared } };
}

/** One sample line, or what is wrong with it. */
function parseSampleLine(line: string): MetricSample | string {
  const name = NAME.exec(line)?.[0];
  if (!name) return "no metric name";
  let rest = line.slice(name.length);
  let labels: Record<string, string> = {};
  if (rest.startsWith("{")) {
    const parsed = parseLabelBlock(rest);
    if (typeof parsed === "string") return parsed;
    labels = parsed.labels;
    rest = rest.slice(parsed.length);
  }
  const fields = rest.trim().split(/[ \t]+/);
  if (fields.length < 1 || fields.length > 2 || fields[0] === "" || !/^[ \t]/.test(rest)) return "expected a value";
  const value = parseValue(fields[0] as string);
  if (value === undefined) return `value ${JSON.stringify(fields[0])} is not a number`;
  if (fields[1] !== undefined && !/^-?\d+$/.test(fields[1])) return `timestamp ${JSON.stringify(fields[1])} is not an integer`;
  return { name, labels, value };
}

/**
 * `{a="x",b="y\"z"}` at the start of `text` (a trailing comma allowed), with
 * how many characters it took. Used for selectors too, where the operator may
 * also be `!=`, `=~` or `!~`.
 */
export function parseLabelBlock(
  text: string,
  operators: readonly string[] = ["="],
): { labels: Record<string, string>; matchers: LabelMatcher[]; length: number } | string {
  const labels: Record<string, string> = {};
  const matchers: LabelMatcher[] = [];
  let at = 1;
  const skipSpace = (): void => {
    while (text[at] === " " || text[at] === "\t") at++;
  };
  for (;;) {
    skipSpace();
    if (text[at] === "}") return { labels, matchers, length: at + 1 };
    const name = LABEL_NAME.exec(text.slice(at))?.[0];
    if (!name) return `bad label name at column ${at + 1}`;
    at += name.length;
    skipSpace();
    const op = [...operators].sort((a, b) => b.length - a.length).find((o) => text.startsWith(o, at));
    if (!op) return `expected ${operators.join(" or ")} after label ${name}`;
    at += op.length;
    skipSpace();
    if (text[at] !== '"') return `label ${name}'s value must be quoted`;
    at++;
    let value = "";
    for (;;) {
      const c = text[at];
      if (c === undefined) return `label ${name}'s value is not closed`;
      at++;
      if (c === '"') break;
      if (c === "\\") {
        const e = text[at++];
        if (e === "n") value += "\n";
        else if (e === "\\" || e === '"') value += e;
        else return `label ${name}'s value has an unknown escape \\${e ?? ""}`;
      } else value += c;
    }
    if (Object.hasOwn(labels, name) && op === "=") return `label ${name} is given twice`;
    if (op === "=") labels[name] = value;
    matchers.push({ name, op: op as LabelMatcher["op"], value });
    skipSpace();
    if (text[at] === ",") at++;
    else if (text[at] !== "}") return `expected , or } after label ${name}`;
  }
}

/** Go's ParseFloat forms the format uses: decimals, exponents, NaN, ±Inf (any case). */
function parseValue(text: string): number | undefined {
  const lower = text.toLowerCase();
  if (lower === "nan") return Number.NaN;
  if (lower === "+inf" || lower === "inf") return Number.POSITIVE_INFINITY;
  if (lower === "-inf") return Number.NEGATIVE_INFINITY;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) && !/^[+-]?0[xX][0-9a-fA-F]+$/.test(text)) return undefined;
  return Number(text);
}

function clip(line: string): string {
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}

export interface LabelMatcher {
  name: string;
  op: "=" | "!=" | "=~" | "!~";
  value: string;
}

/** `name{label="v", other=~"5.."}`: one metric name and label matchers, as in PromQL. */
export interface MetricSelector {
  name: string;
  matchers: LabelMatcher[];
  /** The selector as written, for messages. */
  text: string;
}

const OPERATORS = ["=", "!=", "=~", "!~"] as const;

/** Parses a selector, or says what is wrong with it. Regular expressions are anchored, as in PromQL. */
export function parseSelector(text: string): MetricSelector | string {
  const trimmed = text.trim();
  const name = NAME.exec(trimmed)?.[0];
  if (!name) return "must start with a metric name";
  const rest = trimmed.slice(name.length).trim();
  if (rest === "") return { name, matchers: [], text: trimmed };
  if (!rest.startsWith("{")) return `unexpected ${JSON.stringify(rest)} after the metric name`;
  const block = parseLabelBlock(rest, OPERATORS);
  if (typeof block === "string") return block;
  if (rest.slice(block.length).trim() !== "") return `unexpected text after the labels`;
  for (const m of block.matchers) {
    if (m.op === "=~" || m.op === "!~") {
      try {
        new RegExp(m.value);
      } catch (err) {
        return `label ${m.name}'s regular expression: ${(err as Error).message}`;
      }
    }
  }
  return { name, matchers: block.matchers, text: trimmed };
}

/** Whether a sample's labels satisfy every matcher (a missing label is the empty string, as in PromQL). */
export function labelsMatch(labels: Readonly<Record<string, string>>, matchers: readonly LabelMatcher[]): boolean {
  return matchers.every((m) => {
    const value = labels[m.name] ?? "";
    if (m.op === "=") return value === m.value;
    if (m.op === "!=") return value !== m.value;
    const found = anchored(m.value).test(value);
    return m.op === "=~" ? found : !found;
  });
}

const compiled = new Map<string, RegExp>();

/** Selectors are few and evaluated at every scrape: compile each pattern once. */
function anchored(pattern: string): RegExp {
  let re = compiled.get(pattern);
  if (!re) {
    re = new RegExp(`^(?:${pattern})$`);
    compiled.set(pattern, re);
  }
  return re;
}

/** A stable key for one series: its name and labels, sorted. */
export function seriesKey(name: string, labels: Readonly<Record<string, string>>): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return `${name}{${parts.join(",")}}`;
}

/** A label value as the text format writes it: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
