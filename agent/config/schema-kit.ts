import { isAbsolute, resolve } from "node:path";

/**
 * A small declarative schema for JSON config files: each key states its type,
 * bounds, default and a one-line doc, and the same description parses a file
 * (every problem listed, unknown keys refused at every level) and renders the
 * README's table. Hand-written rather than a validation library to keep the
 * daemon's memory small (README, "Configuration").
 */

export interface ParseContext {
  /** Every problem found so far, in the order met. */
  problems: string[];
  /** The folder relative paths resolve against (the config file's). */
  base: string;
}

export interface Field<T> {
  /** Shown in the README's table ("integer, 1 to 3600"). */
  readonly type: string;
  /** One line for the README's table. */
  readonly doc: string;
  /** What the table shows as the default ("required", "300", "none"). */
  readonly shownDefault: string;
  /** A section's keys, or the keys of a list's entries: the table lists them and nothing else is accepted. */
  readonly fields?: Readonly<Record<string, Field<unknown>>>;
  /** `at` is the key's dotted path; `value` is undefined when the key is absent. */
  parse(value: unknown, at: string, ctx: ParseContext): T;
}

export type Infer<F> = F extends Field<infer T> ? T : never;
type Fields = Record<string, Field<unknown>>;
type Shape<F extends Fields> = { [K in keyof F]: Infer<F[K]> };

/** A check on a well-typed value: the problem's full message, or undefined when it passes. */
export type Check<T> = (value: T, at: string) => string | undefined;

interface Common {
  doc: string;
  /** Replaces the generated default column, e.g. "config folder". */
  shownDefault?: string;
}

interface TextOptions extends Common {
  default?: string | ((ctx: ParseContext) => string);
  check?: Check<string>;
  /** The empty string is a value (environment variables). */
  allowEmpty?: boolean;
  /** Resolve against the config file's folder. */
  path?: boolean;
  /** Applied after the check passes (normalisation). */
  transform?: (value: string) => string;
  /** The table's type column, when "string" says too little ("URL"). */
  type?: string;
}

function textType(o: TextOptions): string {
  return o.type ?? (o.path ? "path" : "string");
}

function textValue(value: unknown, at: string, ctx: ParseContext, o: TextOptions): string | undefined {
  if (typeof value !== "string" || (value.length === 0 && !o.allowEmpty)) {
    ctx.problems.push(`${at} must be ${o.allowEmpty ? "a string" : "a non-empty string"}`);
    return undefined;
  }
  const problem = o.check?.(value, at);
  if (problem) {
    ctx.problems.push(problem);
    return undefined;
  }
  const shaped = o.transform ? o.transform(value) : value;
  return o.path && !isAbsolute(shaped) ? resolve(ctx.base, shaped) : shaped;
}

/** A string; required unless it has a default. */
export function text(o: TextOptions): Field<string> {
  return {
    type: textType(o),
    doc: o.doc,
    shownDefault: o.shownDefault ?? (o.default === undefined ? "required" : code(o.default)),
    parse(value, at, ctx) {
      if (value === undefined) {
        if (o.default === undefined) {
          ctx.problems.push(`${at} must be a non-empty string`);
          return "";
        }
        const fallback = typeof o.default === "function" ? o.default(ctx) : o.default;
        return o.path ? resolve(ctx.base, fallback) : fallback;
      }
      return textValue(value, at, ctx, o) ?? "";
    },
  };
}

/** A string that may be left out (undefined then). */
export function optionalText(o: Omit<TextOptions, "default">): Field<string | undefined> {
  return {
    type: textType(o),
    doc: o.doc,
    shownDefault: o.shownDefault ?? "none",
    parse: (value, at, ctx) => (value === undefined ? undefined : textValue(value, at, ctx, o)),
  };
}

interface NumberOptions extends Common {
  default: number;
  min: number;
  max: number;
}

function numberField(o: NumberOptions, integer: boolean): Field<number> {
  const kind = integer ? "an integer" : "a number";
  return {
    type: `${integer ? "integer" : "number"}, ${o.min} to ${o.max}`,
    doc: o.doc,
    shownDefault: o.shownDefault ?? String(o.default),
    parse(value, at, ctx) {
      if (value === undefined) return o.default;
      const ok =
        typeof value === "number" &&
        Number.isFinite(value) &&
        (!integer || Number.isInteger(value)) &&
        value >= o.min &&
        value <= o.max;
      if (ok) return value;
      ctx.problems.push(`${at} must be ${kind} from ${o.min} to ${o.max}`);
      return o.default;
    },
  };
}

export const integer = (o: NumberOptions): Field<number> => numberField(o, true);
export const decimal = (o: NumberOptions): Field<number> => numberField(o, false);

/** An integer that may be left out (undefined then: the feature it bounds is off). */
export function optionalInteger(o: Omit<NumberOptions, "default">): Field<number | undefined> {
  const inner = numberField({ ...o, default: 0 }, true);
  return {
    type: inner.type,
    doc: o.doc,
    shownDefault: o.shownDefault ?? "none",
    parse: (value, at, ctx) => (value === undefined ? undefined : inner.parse(value, at, ctx)),
  };
}

export function bool(o: Common & { default: boolean }): Field<boolean> {
  return {
    type: "true or false",
    doc: o.doc,
    shownDefault: o.shownDefault ?? code(o.default),
    parse(value, at, ctx) {
      if (value === undefined) return o.default;
      if (typeof value === "boolean") return value;
      ctx.problems.push(`${at} must be true or false`);
      return o.default;
    },
  };
}

/** One of a few strings; required unless it has a default. */
export function choice<const V extends string>(values: readonly V[], o: Common & { default?: V }): Field<V> {
  const listed = orList(values.map((v) => JSON.stringify(v)));
  return {
    type: listed,
    doc: o.doc,
    shownDefault: o.shownDefault ?? (o.default === undefined ? "required" : code(o.default)),
    parse(value, at, ctx) {
      if (value === undefined && o.default !== undefined) return o.default;
      if ((values as readonly unknown[]).includes(value)) return value as V;
      ctx.problems.push(`${at} must be ${listed}`);
      return o.default ?? (values[0] as V);
    },
  };
}

interface ListOptions extends Common {
  /** Without a default the list is required. */
  default?: [];
  nonEmpty?: boolean;
  /** The problem when the value is not a list (or an empty one where one is needed), after "<key> must be". */
  must: string;
  type?: string;
}

/** A JSON array; each entry is parsed by `item` at `<key>[i]`. */
export function list<T>(item: Field<T>, o: ListOptions): Field<T[]> {
  return {
    type: o.type ?? `list of ${item.type}`,
    doc: o.doc,
    shownDefault: o.shownDefault ?? (o.default === undefined ? "required" : "`[]`"),
    fields: item.fields,
    parse(value, at, ctx) {
      if (value === undefined && o.default !== undefined) return [];
      if (!Array.isArray(value) || (o.nonEmpty && value.length === 0)) {
        ctx.problems.push(`${at} must be ${o.must}`);
        return [];
      }
      return value.map((entry: unknown, i) => item.parse(entry, `${at}[${i}]`, ctx));
    },
  };
}

/** An object with any keys whose values `item` parses (an environment). */
export function record<T>(item: Field<T>, o: Common): Field<Record<string, T>> {
  return {
    type: `object of ${item.type}s`,
    doc: o.doc,
    shownDefault: o.shownDefault ?? "`{}`",
    parse(value, at, ctx) {
      const out: Record<string, T> = {};
      if (value === undefined) return out;
      if (!isObject(value)) {
        ctx.problems.push(`${at} must be an object`);
        return out;
      }
      for (const [k, v] of Object.entries(value)) out[k] = item.parse(v, `${at}.${k}`, ctx);
      return out;
    },
  };
}

interface SectionOptions<T> extends Partial<Common> {
  /** Cross-key rules, run when the section is an object. */
  check?: (value: T, at: string) => string[];
  /** Keys accepted and ignored (comments). */
  ignore?: readonly string[];
}

function parseObject<F extends Fields>(
  fields: F,
  value: Record<string, unknown>,
  at: string,
  ctx: ParseContext,
  o: SectionOptions<Shape<F>>,
): Shape<F> {
  const prefix = at === "" ? "" : `${at}.`;
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(fields, key) && !o.ignore?.includes(key)) ctx.problems.push(`unknown key "${prefix}${key}"`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(fields)) out[key] = field.parse(value[key], `${prefix}${key}`, ctx);
  const shaped = out as Shape<F>;
  for (const problem of o.check?.(shaped, at) ?? []) ctx.problems.push(problem);
  return shaped;
}

function sectionField<F extends Fields, T>(
  fields: F,
  o: SectionOptions<Shape<F>>,
  absent: (at: string, ctx: ParseContext) => T,
): Field<Shape<F> | T> {
  return {
    type: "object",
    doc: o.doc ?? "",
    shownDefault: o.shownDefault ?? "",
    fields,
    parse(value, at, ctx) {
      if (value === undefined) return absent(at, ctx);
      if (!isObject(value)) {
        ctx.problems.push(`${at} must be an object`);
        return absent(at, { ...ctx, problems: [] });
      }
      return parseObject(fields, value, at, ctx, o);
    },
  };
}

/** An object whose keys all have defaults; absent means all defaults. */
export function section<F extends Fields>(fields: F, o: SectionOptions<Shape<F>> = {}): Field<Shape<F>> {
  return sectionField(fields, o, (at, ctx) => parseObject(fields, {}, at, { ...ctx, problems: [] }, o));
}

/** An object that must be there; `must` ends "<key> must be an object with ...". */
export function requiredSection<F extends Fields>(fields: F, must: string, o: SectionOptions<Shape<F>> = {}): Field<Shape<F>> {
  return sectionField(fields, o, (at, ctx) => {
    ctx.problems.push(`${at} must be ${must}`);
    return parseObject(fields, {}, at, { ...ctx, problems: [] }, o);
  });
}

/** An object whose presence turns a feature on; undefined when absent. */
export function optionalSection<F extends Fields>(fields: F, o: SectionOptions<Shape<F>>): Field<Shape<F> | undefined> {
  return sectionField(fields, { shownDefault: "none", ...o }, () => undefined);
}

/** Parses a whole document with the top-level section's rules. */
export function parseDocument<T>(schema: Field<T>, raw: unknown, base: string): { value: T; problems: string[] } {
  const ctx: ParseContext = { problems: [], base };
  const value = schema.parse(raw, "", ctx);
  return { value, problems: ctx.problems };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function code(value: unknown): string {
  return typeof value === "number" ? String(value) : `\`${typeof value === "string" ? value : JSON.stringify(value)}\``;
}

function orList(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} or ${items.at(-1)}`;
}
