import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { SafetensorsFile } from "./safetensors.js";

/**
 * The example model at serving time: config.json plus a linear classifier
 * (`classifier.weight` [output, input], `classifier.bias` [output]) read from
 * model.safetensors. Anything that does not fit is refused with the exact
 * mismatch, which is what the service reports on /ready.
 */
export interface LoadedModel {
  version: string;
  inputSize: number;
  outputSize: number;
  labels: string[];
  weight: Float32Array;
  bias: Float32Array;
  /** config.json's `fail_every`: every Nth prediction is answered with HTTP 500. */
  failEvery?: number;
}

export interface Prediction {
  label: string;
  scores: number[];
}

export async function loadModel(dir: string): Promise<LoadedModel> {
  const configPath = join(dir, "config.json");
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(await readFile(configPath, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`cannot read ${configPath}: ${(err as Error).message}`);
  }
  const { version, input_size: inputSize, output_size: outputSize, labels } = config;
  if (config.model_type !== "linear-classifier") {
    throw new Error(`${configPath}: model_type ${JSON.stringify(config.model_type)}, expected "linear-classifier"`);
  }
  if (typeof version !== "string") throw new Error(`${configPath}: version is missing`);
  for (const [key, value] of [
    ["input_size", inputSize],
    ["output_size", outputSize],
  ] as const) {
    if (!Number.isSafeInteger(value) || (value as number) < 1)
      throw new Error(`${configPath}: ${key} ${JSON.stringify(value)} is not a positive integer`);
  }
  const failEvery = config.fail_every;
  if (failEvery !== undefined && (!Number.isSafeInteger(failEvery) || (failEvery as number) < 1))
    throw new Error(`${configPath}: fail_every ${JSON.stringify(failEvery)} is not a positive integer`);
  const inSize = inputSize as number;
  const outSize = outputSize as number;
  if (!Array.isArray(labels) || labels.length !== outSize || !labels.every((l) => typeof l === "string")) {
    throw new Error(`${configPath}: labels must be ${outSize} strings (output_size)`);
  }

  const file = await SafetensorsFile.open(join(dir, "model.safetensors"));
  try {
    const expect = (name: string, shape: number[]): void => {
      const info = file.info(name);
      if (info.dtype !== "F32" || info.shape.join(",") !== shape.join(",")) {
        throw new Error(
          `${file.path}: ${name} is ${info.dtype} [${info.shape.join(", ")}], but config.json (input_size ${inSize}, output_size ${outSize}) needs F32 [${shape.join(", ")}]`,
        );
      }
    };
    expect("classifier.weight", [outSize, inSize]);
    expect("classifier.bias", [outSize]);
    return {
      version,
      inputSize: inSize,
      outputSize: outSize,
      labels: labels as string[],
      weight: await file.readF32("classifier.weight"),
      bias: await file.readF32("classifier.bias"),
      ...(failEvery !== undefined ? { failEvery: failEvery as number } : {}),
    };
  } finally {
    await file.close();
  }
}

/** softmax(W·x + b) and the label with the highest score. */
export function predict(model: LoadedModel, input: ArrayLike<number>): Prediction {
  if (input.length !== model.inputSize)
    throw new RangeError(`input has ${input.length} values, the model takes ${model.inputSize}`);
  const logits = new Array<number>(model.outputSize);
  for (let o = 0; o < model.outputSize; o++) {
    let sum = model.bias[o] as number;
    for (let i = 0; i < model.inputSize; i++) sum += (model.weight[o * model.inputSize + i] as number) * (input[i] as number);
    logits[o] = sum;
  }
  const max = Math.max(...logits);
  const exps = logits.map((l) => Math.exp(l - max));
  const total = exps.reduce((a, b) => a + b, 0);
  const scores = exps.map((e) => e / total);
  let best = 0;
  for (let o = 1; o < scores.length; o++) if ((scores[o] as number) > (scores[best] as number)) best = o;
  return { label: model.labels[best] as string, scores };
}

/** One prediction on a fixed input before declaring ready: the weights must produce finite scores of the right size. */
export function warmUp(model: LoadedModel): Prediction {
  const input = Array.from({ length: model.inputSize }, (_, i) => (i + 1) / model.inputSize);
  const result = predict(model, input);
  if (result.scores.length !== model.outputSize || !result.scores.every(Number.isFinite)) {
    throw new Error(
      `warm-up prediction gave ${result.scores.length} scores (${result.scores.join(", ")}), expected ${model.outputSize} finite values`,
    );
  }
  return result;
}
