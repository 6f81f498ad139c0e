import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type LoadedModel, predict } from "./model.js";

/**
 * A model folder's golden set: `validation/golden.json` holds inputs and the
 * label each must get, `validation/threshold.json` the least accuracy the
 * release accepts. The validator (validate.ts) reads both; make-model writes
 * them.
 */
export interface GoldenCase {
  input: number[];
  expected: string;
}

export interface GoldenSet {
  cases: GoldenCase[];
  minAccuracy: number;
}

export const GOLDEN_FILE = join("validation", "golden.json");
export const THRESHOLD_FILE = join("validation", "threshold.json");

export async function readGoldenSet(dir: string): Promise<GoldenSet> {
  const cases = await readJson(join(dir, GOLDEN_FILE));
  if (!Array.isArray(cases) || cases.length === 0) throw new Error(`${GOLDEN_FILE} must be a non-empty list of cases`);
  cases.forEach((c: unknown, i) => {
    const ok =
      typeof c === "object" &&
      c !== null &&
      Array.isArray((c as GoldenCase).input) &&
      (c as GoldenCase).input.every((v) => typeof v === "number" && Number.isFinite(v)) &&
      typeof (c as GoldenCase).expected === "string";
    if (!ok) throw new Error(`${GOLDEN_FILE}[${i}] must be {"input": [numbers], "expected": "label"}`);
  });
  const threshold = (await readJson(join(dir, THRESHOLD_FILE))) as { minAccuracy?: unknown } | null;
  const min = threshold?.minAccuracy;
  if (typeof min !== "number" || !(min >= 0 && min <= 1)) {
    throw new Error(`${THRESHOLD_FILE} must be {"minAccuracy": a number from 0 to 1}`);
  }
  return { cases: cases as GoldenCase[], minAccuracy: min };
}

/** The share of cases the model labels as expected. */
export function accuracyOn(model: LoadedModel, cases: readonly GoldenCase[]): number {
  const right = cases.filter((c) => predict(model, c.input).label === c.expected).length;
  return right / cases.length;
}

/** The share of cases two models label alike (the candidate against the serving version). */
export function agreementOn(a: LoadedModel, b: LoadedModel, cases: readonly GoldenCase[]): number {
  const same = cases.filter((c) => predict(a, c.input).label === predict(b, c.input).label).length;
  return same / cases.length;
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${path} is not JSON: ${(err as Error).message}`);
  }
}
