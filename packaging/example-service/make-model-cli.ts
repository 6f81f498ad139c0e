#!/usr/bin/env node
import { readdir } from "node:fs/promises";
import { parseArgs } from "node:util";
import { DEFAULT_INPUT_SIZE, DEFAULT_OUTPUT_SIZE, type ExampleModelOptions, writeExampleModel } from "./make-model.js";

const USAGE = `make-model: writes a model folder the example inference service loads
(config.json and model.safetensors: a seeded linear classifier, the shape of a
Hugging Face folder), ready for \`edge-publish build --model-dir DIR\`.

Usage: node dist/packaging/example-service/make-model-cli.js --out DIR --version V [options]
  (from a checkout: npm run make-model -- --out DIR --version V)

  --out DIR            the folder to write (created; must be empty or absent)
  --version V          written into config.json and the safetensors metadata
  --seed N             weights seed, integer (default 1); same options, same bytes
  --input-size N       features per input (default ${DEFAULT_INPUT_SIZE})
  --output-size N      classes (default ${DEFAULT_OUTPUT_SIZE})
  --extra-mib N        adds a backbone tensor of about N MiB of seeded floats (a large model)
  --padding-seed N     seeds that tensor on its own: two versions with the same value share
                       their backbone and differ in the head (good deltas)
  --perturb X          moves every weight by up to X at random (a light fine-tune: 0.01 keeps nearly
                       every label and shifts scores a little; another --seed changes most labels)
  --broken             a config that disagrees with the weights: the service never becomes ready
  --fail-every N       ready, then every Nth prediction answers HTTP 500 (what metric gates catch)
  --json               print {"dir", "version", "files"} on stdout
  -h, --help           this text

Exit codes: 0 written, 1 could not write, 2 usage error (nothing written).
`;

class UsageError extends Error {}

function integer(name: string, raw: string | undefined, min: number): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min)
    throw new UsageError(`--${name} must be an integer of at least ${min}, got "${raw}"`);
  return value;
}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    const message = err instanceof UsageError ? err.message : "unknown or malformed option (see --help)";
    process.stderr.write(`make-model: USAGE: ${message}\n`);
    return 2;
  }
  if (parsed === "help") {
    process.stdout.write(USAGE);
    return 0;
  }
  const { dir, json, options } = parsed;
  const existing = await readdir(dir).catch(() => []);
  if (existing.length > 0) {
    process.stderr.write(`make-model: USAGE: --out ${dir} exists and is not empty\n`);
    return 2;
  }
  await writeExampleModel(dir, options);
  const files = ["config.json", "model.safetensors"];
  if (json) process.stdout.write(`${JSON.stringify({ dir, version: options.version, files })}\n`);
  else process.stdout.write(`wrote ${dir}: ${files.join(", ")} (version ${options.version})\n`);
  return 0;
}

function parse(argv: string[]): "help" | { dir: string; json: boolean; options: ExampleModelOptions } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      out: { type: "string" },
      version: { type: "string" },
      seed: { type: "string" },
      "input-size": { type: "string" },
      "output-size": { type: "string" },
      "extra-mib": { type: "string" },
      "padding-seed": { type: "string" },
      perturb: { type: "string" },
      broken: { type: "boolean" },
      "fail-every": { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return "help";
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (!values.out) throw new UsageError("--out DIR is required");
  if (!values.version) throw new UsageError("--version V is required");
  const extraMiB = integer("extra-mib", values["extra-mib"], 0);
  const inputSize = integer("input-size", values["input-size"], 1);
  const outputSize = integer("output-size", values["output-size"], 1);
  const paddingSeed = integer("padding-seed", values["padding-seed"], 0);
  const failEvery = integer("fail-every", values["fail-every"], 1);
  const perturb = values.perturb === undefined ? undefined : Number(values.perturb);
  if (perturb !== undefined && (!/^\d+(\.\d+)?$/.test(values.perturb ?? "") || !Number.isFinite(perturb)))
    throw new UsageError(`--perturb must be a decimal number of at least 0 (such as 0.01), got "${values.perturb}"`);
  const options: ExampleModelOptions = {
    version: values.version,
    seed: integer("seed", values.seed, 0) ?? 1,
    ...(inputSize !== undefined ? { inputSize } : {}),
    ...(outputSize !== undefined ? { outputSize } : {}),
    ...(extraMiB ? { extraBytes: extraMiB * 1024 * 1024 } : {}),
    ...(paddingSeed !== undefined ? { paddingSeed } : {}),
    ...(values.broken ? { broken: true } : {}),
    ...(failEvery !== undefined ? { failEvery } : {}),
    ...(perturb !== undefined ? { perturb } : {}),
  };
  return { dir: values.out, json: values.json ?? false, options };
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`make-model: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
