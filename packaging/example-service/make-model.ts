import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { GOLDEN_FILE, type GoldenCase, THRESHOLD_FILE } from "./golden-set.js";
import { type LoadedModel, predict } from "./model.js";
import { writeSafetensors } from "./safetensors.js";

/**
 * Builds the example model: a linear classifier in safetensors with a
 * config.json, the way a Hugging Face model folder looks. Deterministic from the
 * seed, so the same options always give the same bytes (reproducible bundles,
 * meaningful deltas between versions).
 */
export interface ExampleModelOptions {
  version: string;
  seed: number;
  inputSize?: number;
  outputSize?: number;
  /** A config whose input_size disagrees with the weights: the service never becomes ready. */
  broken?: boolean;
  /** Adds `backbone.padding`, about this many bytes of random floats, for benchmarks with large models. */
  extraBytes?: number;
  /**
   * Seeds `backbone.padding` on its own: the same value in two versions keeps the
   * backbone identical while the classifier changes, as a fine-tuned head does.
   */
  paddingSeed?: number;
  /**
   * Writes a golden set into `validation/` (the example validator's input):
   * `cases` inputs labelled by the model this seed makes, and the release's
   * least accuracy.
   */
  golden?: { cases?: number; minAccuracy?: number };
  /**
   * Weights from another seed than the golden set's labels: a model that loads
   * and serves, but fails its own golden set (accuracy near chance).
   */
  degraded?: boolean;
  /**
   * Moves every weight and bias by up to this much, at random (its own stream
   * of the seed), as a light fine-tune does: small values keep nearly every
   * label and shift the scores a little, which is what a shadow comparison
   * should let through; another seed instead changes most labels.
   */
  perturb?: number;
  /**
   * Loads, becomes ready and then fails every Nth prediction with HTTP 500, as
   * a model with a numerical bug does on some inputs: what metric gates catch
   * and `/ready` does not.
   */
  failEvery?: number;
}

export interface ExampleModelConfig {
  model_type: "linear-classifier";
  version: string;
  input_size: number;
  output_size: number;
  labels: string[];
  /** The service answers every Nth /predict with HTTP 500 (a fault model; see ExampleModelOptions.failEvery). */
  fail_every?: number;
}

export const DEFAULT_INPUT_SIZE = 8;
export const DEFAULT_OUTPUT_SIZE = 4;
const LABELS = ["cat", "dog", "bird", "fish", "horse", "frog", "ship", "truck"];
/** Floats per streamed chunk of the padding tensor: 1 MiB. */
const PADDING_CHUNK = 256 * 1024;

/** mulberry32: small, fast and good enough for weights; floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function labelsFor(outputSize: number): string[] {
  return Array.from({ length: outputSize }, (_, i) => LABELS[i] ?? `class_${i}`);
}

export async function writeExampleModel(dir: string, opts: ExampleModelOptions): Promise<void> {
  const inputSize = opts.inputSize ?? DEFAULT_INPUT_SIZE;
  const outputSize = opts.outputSize ?? DEFAULT_OUTPUT_SIZE;
  for (const [key, value] of [
    ["inputSize", inputSize],
    ["outputSize", outputSize],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${key} must be a positive integer, got ${value}`);
  }
  const reference = classifier(opts.seed, inputSize, outputSize);
  const chosen = opts.degraded ? classifier((opts.seed ^ 0x5bd1e995) >>> 0, inputSize, outputSize) : reference;
  const { weight, bias } = opts.perturb ? perturbed(chosen, opts.perturb, (opts.seed ^ 0x27d4eb2f) >>> 0) : chosen;

  const config: ExampleModelConfig = {
    model_type: "linear-classifier",
    version: opts.version,
    input_size: opts.broken ? inputSize + 1 : inputSize,
    output_size: outputSize,
    labels: labelsFor(outputSize),
    ...(opts.failEvery !== undefined ? { fail_every: opts.failEvery } : {}),
  };
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "config.json"), `${JSON.stringify(config, null, 2)}\n`);

  const tensors: Parameters<typeof writeSafetensors>[1] = {
    "classifier.weight": { dtype: "F32", shape: [outputSize, inputSize], data: weight },
    "classifier.bias": { dtype: "F32", shape: [outputSize], data: bias },
  };
  const extraBytes = opts.extraBytes ?? 0;
  if (extraBytes > 0) {
    const count = Math.ceil(extraBytes / 4);
    // Its own stream, so the classifier's weights do not depend on extraBytes.
    const paddingSeed = opts.paddingSeed ?? (opts.seed ^ 0x9e3779b9) >>> 0;
    tensors["backbone.padding"] = { dtype: "F32", shape: [count], data: () => randomFloats(count, paddingSeed) };
  }
  await writeSafetensors(join(dir, "model.safetensors"), tensors, { format: "pt", version: opts.version });
  if (opts.golden)
    await writeGoldenSet(dir, { ...reference, version: opts.version, inputSize, outputSize, labels: config.labels }, opts);
}

function classifier(seed: number, inputSize: number, outputSize: number): { weight: Float32Array; bias: Float32Array } {
  const random = seededRandom(seed);
  const scale = 1 / Math.sqrt(inputSize);
  const weight = Float32Array.from({ length: outputSize * inputSize }, () => (random() * 2 - 1) * scale);
  const bias = Float32Array.from({ length: outputSize }, () => (random() * 2 - 1) * 0.1);
  return { weight, bias };
}

function perturbed(
  c: { weight: Float32Array; bias: Float32Array },
  amount: number,
  seed: number,
): { weight: Float32Array; bias: Float32Array } {
  if (!Number.isFinite(amount) || amount < 0)
    throw new RangeError(`perturb must be a finite number of at least 0, got ${amount}`);
  const random = seededRandom(seed);
  const move = (values: Float32Array): Float32Array => values.map((v) => v + (random() * 2 - 1) * amount);
  return { weight: move(c.weight), bias: move(c.bias) };
}

/** Inputs from their own stream of the seed, each labelled by the reference model (so a faithful model scores 1.0). */
async function writeGoldenSet(dir: string, reference: LoadedModel, opts: ExampleModelOptions): Promise<void> {
  const count = opts.golden?.cases ?? 32;
  const minAccuracy = opts.golden?.minAccuracy ?? 0.9;
  const random = seededRandom((opts.seed ^ 0x2545f491) >>> 0);
  const cases: GoldenCase[] = Array.from({ length: count }, () => {
    const input = Array.from({ length: reference.inputSize }, () => Math.round((random() * 2 - 1) * 1000) / 1000);
    return { input, expected: predict(reference, input).label };
  });
  await mkdir(join(dir, "validation"), { recursive: true });
  await writeFile(join(dir, GOLDEN_FILE), `${JSON.stringify(cases)}\n`);
  await writeFile(join(dir, THRESHOLD_FILE), `${JSON.stringify({ minAccuracy })}\n`);
}

/** `count` floats in [-1, 1), generated and handed out one reused 1 MiB chunk at a time. */
async function* randomFloats(count: number, seed: number): AsyncIterable<Float32Array> {
  const random = seededRandom(seed);
  const chunk = new Float32Array(Math.min(count, PADDING_CHUNK));
  for (let left = count; left > 0; left -= chunk.length) {
    const view = left < chunk.length ? chunk.subarray(0, left) : chunk;
    for (let i = 0; i < view.length; i++) view[i] = random() * 2 - 1;
    yield view;
  }
}
