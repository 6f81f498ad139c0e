import { createHash, randomInt } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { EdgeError, type ErrorCode } from "../../shared/errors.js";

/**
 * The fuzz tier's one place for seed, run counts and failures.
 *
 * `npm test` runs every target with a fixed seed and its small `quickRuns`, so
 * the tier takes a few seconds and fails the same way every time. `npm run
 * fuzz` sets FUZZ_RUNS (and FUZZ_SEED, random and printed, unless given): each
 * target then runs FUZZ_RUNS x its `weight` inputs, and a failing input is
 * written to test/fixtures/fuzz/, where fixtures.test.ts replays it in every
 * later `npm test`.
 */
export interface FuzzTarget<T> {
  /** Also the fixture's file name prefix: lowercase words and dashes. */
  name: string;
  arbitrary: () => fc.Arbitrary<T>;
  /** Resolves when the input was handled acceptably; throws (an assertion) otherwise. */
  check: (input: T) => Promise<void> | void;
  quickRuns: number;
  /** Share of FUZZ_RUNS a long run gives this target (slow targets take less). */
  weight?: number;
}

const LONG_RUNS = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : undefined;
const QUICK_SEED = 0x5eed_2025;
export const FUZZ_SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : LONG_RUNS ? randomInt(2 ** 31) : QUICK_SEED;
/** An input taking longer than this is a hang (far above any input's normal time, even on a loaded machine). */
export const TIME_BOUND_MS = 10_000;
export const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "fuzz");

if (LONG_RUNS) console.log(`fuzz: seed ${FUZZ_SEED}, FUZZ_RUNS ${LONG_RUNS} (replay: FUZZ_SEED=${FUZZ_SEED} npm run fuzz)`);

/** Erases a target's input type, so targets of different inputs share one list (each checks what its own arbitrary makes). */
export function defineTarget<T>(target: FuzzTarget<T>): FuzzTarget<unknown> {
  return target as unknown as FuzzTarget<unknown>;
}

export function runsFor(target: { quickRuns: number; weight?: number }): number {
  return LONG_RUNS ? Math.max(1, Math.round(LONG_RUNS * (target.weight ?? 1))) : target.quickRuns;
}

/** Runs one target; on failure a long run keeps the shrunk input as a fixture. */
export async function runFuzz<T>(target: FuzzTarget<T>): Promise<void> {
  const property = fc.asyncProperty(target.arbitrary(), async (input) => {
    await target.check(input);
  });
  const details = await fc.check(property, { seed: FUZZ_SEED, numRuns: runsFor(target), timeout: TIME_BOUND_MS });
  if (!details.failed) return;
  let saved = "";
  if (LONG_RUNS && details.counterexample) saved = `\nsaved as ${await saveFixture(target.name, details.counterexample[0])}`;
  throw new Error(`${fc.defaultReportMessage(details)}${saved}`);
}

async function saveFixture(target: string, input: unknown): Promise<string> {
  const text = `${JSON.stringify({ target, input: encodeInput(input) }, null, 2)}\n`;
  const path = join(FIXTURE_DIR, `${target}-${createHash("sha256").update(text).digest("hex").slice(0, 12)}.json`);
  await mkdir(FIXTURE_DIR, { recursive: true });
  await writeFile(path, text);
  return path;
}

/** JSON with byte arrays as {"$bytes": base64}, so fixtures hold any input a target takes. */
export function encodeInput(value: unknown): unknown {
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString("base64") };
  if (Array.isArray(value)) return value.map(encodeInput);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encodeInput(v)]));
  }
  return value;
}

export function decodeInput(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decodeInput);
  if (value && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (typeof record.$bytes === "string" && Object.keys(record).length === 1) return Buffer.from(record.$bytes, "base64");
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, decodeInput(v)]));
  }
  return value;
}

/**
 * The one acceptable way to refuse outside input: an EdgeError whose code names
 * the problem (never INTERNAL), from the codes this parser may give.
 */
export function expectSpecificRefusal(err: unknown, allowed: readonly ErrorCode[]): void {
  if (!(err instanceof EdgeError)) {
    throw new Error(`threw ${(err as Error)?.constructor?.name ?? typeof err}, not an EdgeError: ${String(err)}`, { cause: err });
  }
  if (!allowed.includes(err.code)) {
    throw new Error(`refused with ${err.code}, expected one of ${allowed.join(", ")}: ${err.message}`, { cause: err });
  }
}

/** Runs `fn`; accepting is fine, refusing must be specific. */
export async function acceptsOrRefuses(fn: () => unknown, allowed: readonly ErrorCode[]): Promise<"accepted" | "refused"> {
  try {
    await fn();
    return "accepted";
  } catch (err) {
    expectSpecificRefusal(err, allowed);
    return "refused";
  }
}

/** Byte-level damage to a valid input: flipped bytes, an insertion, a cut. */
export interface Damage {
  flips: [number, number][];
  insert: { at: number; bytes: Uint8Array } | null;
  cut: number | null;
}

export function damageArbitrary(maxFlips = 6): fc.Arbitrary<Damage> {
  return fc.record({
    flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: maxFlips }),
    insert: fc.option(fc.record({ at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }), { nil: null }),
    cut: fc.option(fc.nat(), { nil: null }),
  });
}

/** Applies damage to a copy; positions wrap around the input's length (`region` limits where flips land). */
export function applyDamage(bytes: Buffer, damage: Damage, region: [number, number] = [0, bytes.length]): Buffer {
  const [from, to] = region;
  const out = Buffer.from(bytes);
  for (const [at, value] of damage.flips) out[from + (at % Math.max(1, to - from))] = value;
  let result = out;
  if (damage.insert) {
    const at = damage.insert.at % (result.length + 1);
    result = Buffer.concat([result.subarray(0, at), damage.insert.bytes, result.subarray(at)]);
  }
  if (damage.cut !== null) result = result.subarray(0, damage.cut % (result.length + 1));
  return result;
}

/** Any JSON value, plus the values that break naive parsers. */
export function hostileJsonValue(): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.constantFrom(-1, 0, 1.5, 2 ** 53, -(2 ** 53), 1e308, "", "../x", "/abs", "a\u0000b", "\uD800", "1.0.0", null, [], {}),
    fc.string({ unit: "binary", maxLength: 20 }),
  );
}

/** Every member path of a JSON value ("files.0.size"), for edits of valid documents. */
export function memberPaths(value: unknown, prefix = ""): string[] {
  if (value === null || typeof value !== "object") return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    const path = prefix ? `${prefix}.${k}` : k;
    out.push(path, ...memberPaths(v, path));
  }
  return out;
}

/** A copy of `value` with the member at `path` set to `replacement` (undefined removes it). */
export function withMember<T>(value: T, path: string, replacement: unknown): T {
  const copy = structuredClone(value) as Record<string, unknown>;
  const keys = path.split(".");
  const last = keys.pop() as string;
  let parent: Record<string, unknown> = copy;
  for (const k of keys) {
    const next = parent[k];
    if (next === null || typeof next !== "object") return copy as T;
    parent = next as Record<string, unknown>;
  }
  if (replacement === undefined) delete parent[last];
  else parent[last] = replacement;
  return copy as T;
}
