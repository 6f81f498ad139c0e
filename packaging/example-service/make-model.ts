import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
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
}

export interface ExampleModelConfig {
  model_type: "linear-classifier";
  version: string;
  input_size: number;
  output_size: number;
  labels: string[];
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
  const random = seededRandom(opts.seed);
  const scale = 1 / Math.sqrt(inputSize);
  const weight = Float32Array.from({ length: outputSize * inputSize }, () => (random() * 2 - 1) * scale);
  const bias = Float32Array.from({ length: outputSize }, () => (random() * 2 - 1) * 0.1);

  const config: ExampleModelConfig = {
    model_type: "linear-classifier",
    version: opts.version,
    input_size: opts.broken ? inputSize + 1 : inputSize,
    output_size: outputSize,
    labels: labelsFor(outputSize),
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
