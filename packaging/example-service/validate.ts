#!/usr/bin/env node
import { accuracyOn, agreementOn, readGoldenSet } from "./golden-set.js";
import { type LoadedModel, loadModel } from "./model.js";

/**
 * The example validator for the agent's `validate.command`: loads the staged
 * model (EDGEPULL_MODEL_DIR, or the first argument), runs the golden set the
 * release ships in `validation/`, and exits 1 with one clear stderr line when
 * accuracy falls below the release's own threshold. With EDGEPULL_ACTIVE_DIR
 * it also reports how often the candidate agrees with the serving version.
 * Exit 0 passes; 1 fails the check; 2 is a usage error.
 */
async function main(): Promise<number> {
  const dir = process.argv[2] ?? process.env.EDGEPULL_MODEL_DIR;
  if (!dir) {
    process.stderr.write("usage: validate.js [MODEL_DIR] (or set EDGEPULL_MODEL_DIR)\n");
    return 2;
  }
  let model: LoadedModel;
  try {
    model = await loadModel(dir);
  } catch (err) {
    process.stderr.write(`cannot load the model in ${dir}: ${(err as Error).message}\n`);
    return 1;
  }
  let golden: Awaited<ReturnType<typeof readGoldenSet>>;
  try {
    golden = await readGoldenSet(dir);
  } catch (err) {
    process.stderr.write(`no usable golden set in ${dir}: ${(err as Error).message}\n`);
    return 1;
  }
  let accuracy: number;
  try {
    accuracy = accuracyOn(model, golden.cases);
  } catch (err) {
    process.stderr.write(`the golden set does not fit the model: ${(err as Error).message}\n`);
    return 1;
  }
  const figures = `accuracy ${accuracy.toFixed(3)} over ${golden.cases.length} cases`;
  const active = process.env.EDGEPULL_ACTIVE_DIR;
  if (active) {
    const serving = await loadModel(active).catch(() => undefined);
    const agreement = serving && serving.inputSize === model.inputSize ? agreementOn(model, serving, golden.cases) : undefined;
    process.stdout.write(
      `agreement with the serving version: ${agreement === undefined ? "not comparable" : agreement.toFixed(3)}\n`,
    );
  }
  if (accuracy < golden.minAccuracy) {
    process.stderr.write(`accuracy ${accuracy.toFixed(3)} below threshold ${golden.minAccuracy}\n`);
    return 1;
  }
  process.stdout.write(`${figures}, threshold ${golden.minAccuracy}: passed\n`);
  return 0;
}

process.exitCode = await main();
