import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { seededRandom } from "../packaging/example-service/make-model.js";
import { SafetensorsFile, type TensorToWrite, writeSafetensors } from "../packaging/example-service/safetensors.js";
import { gaussian, normalWeights } from "./weights.js";

/**
 * Model pairs for the delta benchmark: a transformer-shaped float32
 * safetensors model (embedding, layers of attention and MLP matrices with
 * their norms, head, final norm) with a config.json and a tokenizer.json, and
 * one target folder per kind of change a published model goes through.
 * Weights are normal with a per-tensor spread, so mantissas are random and
 * exponents vary, as in trained weights. Deterministic: the same size gives the
 * same bytes.
 */
export const PAIR_KINDS = ["head", "adapter", "full-ft", "insert", "quant", "tokenizer"] as const;
export type PairKind = (typeof PAIR_KINDS)[number];

export const PAIR_LABELS: Record<PairKind, string> = {
  head: "head-only fine-tune (lm_head and the final norm)",
  adapter: "adapter merge (rank-16 update on a third of the tensors)",
  "full-ft": "full fine-tune (every weight w + N(0, (1e-3 w)^2))",
  insert: "tensor inserted in the middle",
  quant: "float32 to int8 quantisation (and config.json)",
  tokenizer: "tokenizer.json and config.json edited, weights same",
};

const MiB = 1024 * 1024;
const LORA_RANK = 16;
/** The merged update's spread relative to the tensor's: a modest adapter. */
const LORA_RELATIVE = 0.02;
/** A fine-tune step moves each weight by about 0.1 % of itself. */
const FINE_TUNE_RELATIVE = 1e-3;
const TOKENS = 32000;
const ADDED_TOKENS = 256;

interface TensorSpec {
  name: string;
  shape: number[];
  seed: number;
  /** Matrices are normal around 0; norm weights normal around 1. */
  mean: number;
  std: number;
}

interface Architecture {
  hidden: number;
  layers: number;
  vocab: number;
  tensors: TensorSpec[];
}

/** Layers take about three quarters of the bytes, embedding and head the rest, to land near `sizeMiB`. */
export function architecture(sizeMiB: number): Architecture {
  const hidden = sizeMiB >= 256 ? 1024 : 512;
  const layerBytes = 12 * hidden * hidden * 4;
  const layers = Math.max(1, Math.floor((0.75 * sizeMiB * MiB) / layerBytes));
  const vocab = Math.max(hidden, Math.floor((sizeMiB * MiB - layers * layerBytes) / (8 * hidden)));
  const spread = seededRandom(7);
  const tensors: TensorSpec[] = [];
  const matrix = (name: string, rows: number, cols: number) =>
    tensors.push({ name, shape: [rows, cols], seed: tensors.length + 1, mean: 0, std: 0.02 * 2 ** ((spread() - 0.5) * 3) });
  const norm = (name: string) => tensors.push({ name, shape: [hidden], seed: tensors.length + 1, mean: 1, std: 0.05 });
  matrix("embed.weight", vocab, hidden);
  for (let l = 0; l < layers; l++) {
    matrix(`layers.${l}.attn.qkv.weight`, 3 * hidden, hidden);
    matrix(`layers.${l}.attn.out.weight`, hidden, hidden);
    matrix(`layers.${l}.mlp.up.weight`, 4 * hidden, hidden);
    matrix(`layers.${l}.mlp.down.weight`, hidden, 4 * hidden);
    norm(`layers.${l}.norm1.weight`);
    norm(`layers.${l}.norm2.weight`);
  }
  matrix("lm_head.weight", vocab, hidden);
  norm("norm.weight");
  return { hidden, layers, vocab, tensors };
}

function elements(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function baseTensor(t: TensorSpec): Float32Array {
  const w = normalWeights(elements(t.shape), t.seed, t.std);
  if (t.mean !== 0) for (let i = 0; i < w.length; i++) w[i] = (w[i] as number) + t.mean;
  return w;
}

/** Computed when the writer reaches the tensor, so one tensor at a time is in memory. */
function lazy(make: () => Promise<Uint8Array | Float32Array>): () => AsyncIterable<Uint8Array | Float32Array> {
  return async function* () {
    yield await make();
  };
}

export async function writeBaseModel(dir: string, sizeMiB: number): Promise<void> {
  const arch = architecture(sizeMiB);
  await mkdir(dir, { recursive: true });
  const tensors: Record<string, TensorToWrite> = {};
  for (const t of arch.tensors) tensors[t.name] = { dtype: "F32", shape: t.shape, data: lazy(async () => baseTensor(t)) };
  await writeSafetensors(join(dir, "model.safetensors"), tensors, { format: "pt" });
  await writeFile(join(dir, "config.json"), config(arch, {}));
  await writeFile(join(dir, "tokenizer.json"), tokenizer(false));
}

/** The target folder of one pair, derived from the base folder's weights. */
export async function writeTargetModel(kind: PairKind, baseDir: string, dir: string, sizeMiB: number): Promise<void> {
  const arch = architecture(sizeMiB);
  await mkdir(dir, { recursive: true });
  const base = await SafetensorsFile.open(join(baseDir, "model.safetensors"));
  try {
    const read = (t: TensorSpec) => base.readF32(t.name);
    const tensors: Record<string, TensorToWrite> = {};
    const last = arch.tensors.slice(-2).map((t) => t.name);
    const matrices = arch.tensors.filter((t) => t.shape.length === 2);
    const adapted = new Set(matrices.filter((_, i) => i % 3 === 0).map((t) => t.name));
    for (const t of arch.tensors) {
      const f32 = (make: () => Promise<Float32Array>): TensorToWrite => ({ dtype: "F32", shape: t.shape, data: lazy(make) });
      if (kind === "full-ft" || (kind === "head" && last.includes(t.name)))
        tensors[t.name] = f32(async () => fineTuned(await read(t), t.seed + 1000));
      else if (kind === "adapter" && adapted.has(t.name)) tensors[t.name] = f32(async () => loraMerged(await read(t), t));
      else if (kind === "quant" && t.shape.length === 2) {
        const scale = { value: 0 };
        tensors[t.name] = { dtype: "I8", shape: t.shape, data: lazy(async () => quantised(await read(t), scale)) };
        // Written after the matrix (its name sorts after it), so the scale is known by then.
        tensors[`${t.name}_scale`] = { dtype: "F32", shape: [1], data: lazy(async () => Float32Array.of(scale.value)) };
      } else tensors[t.name] = f32(() => read(t));
    }
    if (kind === "insert") {
      const gate: TensorSpec = {
        name: `layers.${Math.floor(arch.layers / 2)}.attn.gate.weight`,
        shape: [arch.hidden, arch.hidden],
        seed: 9999,
        mean: 0,
        std: 0.02,
      };
      tensors[gate.name] = { dtype: "F32", shape: gate.shape, data: lazy(async () => baseTensor(gate)) };
    }
    await writeSafetensors(join(dir, "model.safetensors"), tensors, { format: "pt" });
  } finally {
    await base.close();
  }
  const changes =
    kind === "quant"
      ? { torch_dtype: "int8", quantization_config: { bits: 8, scheme: "symmetric", per: "tensor" } }
      : kind === "tokenizer"
        ? { vocab_size: arch.vocab + ADDED_TOKENS }
        : {};
  await writeFile(join(dir, "config.json"), config(arch, changes));
  await writeFile(join(dir, "tokenizer.json"), tokenizer(kind === "tokenizer"));
}

function fineTuned(w: Float32Array, seed: number): Float32Array {
  const next = gaussian(seed);
  for (let i = 0; i < w.length; i++) w[i] = (w[i] as number) * (1 + FINE_TUNE_RELATIVE * next());
  return w;
}

/** w + B·A with B [rows x r], A [r x cols]: what merging a LoRA adapter does. */
function loraMerged(w: Float32Array, t: TensorSpec): Float32Array {
  const [rows, cols] = t.shape as [number, number];
  const a = normalWeights(LORA_RANK * cols, t.seed + 2000, 1);
  const b = normalWeights(rows * LORA_RANK, t.seed + 3000, (LORA_RELATIVE * t.std) / Math.sqrt(LORA_RANK));
  for (let i = 0; i < rows; i++) {
    const row = w.subarray(i * cols, (i + 1) * cols);
    for (let k = 0; k < LORA_RANK; k++) {
      const bk = b[i * LORA_RANK + k] as number;
      const ak = a.subarray(k * cols, (k + 1) * cols);
      for (let j = 0; j < cols; j++) row[j] = (row[j] as number) + bk * (ak[j] as number);
    }
  }
  return w;
}

/** Symmetric per-tensor int8: q = round(w / s), s = max|w| / 127. */
function quantised(w: Float32Array, scale: { value: number }): Uint8Array {
  let max = 0;
  for (const x of w) max = Math.max(max, Math.abs(x));
  scale.value = max / 127 || 1;
  const q = new Int8Array(w.length);
  for (let i = 0; i < w.length; i++) q[i] = Math.max(-127, Math.min(127, Math.round((w[i] as number) / scale.value)));
  return new Uint8Array(q.buffer);
}

function config(arch: Architecture, changes: Record<string, unknown>): string {
  const base = {
    architectures: ["BenchForCausalLM"],
    hidden_size: arch.hidden,
    num_hidden_layers: arch.layers,
    vocab_size: arch.vocab,
    torch_dtype: "float32",
  };
  return `${JSON.stringify({ ...base, ...changes }, null, 2)}\n`;
}

/**
 * A BPE tokenizer.json in the Hugging Face layout (about 1.5 MiB). The edited one
 * has tokens added at the end of the vocabulary and a few merges changed, so
 * what follows the additions shifts: a generic file for the bsdiff windows.
 */
function tokenizer(edited: boolean): string {
  const random = seededRandom(11);
  const letters = "abcdefghijklmnopqrstuvwxyz";
  const word = () =>
    Array.from({ length: 2 + Math.floor(random() * 8) }, () => letters[Math.floor(random() * letters.length)]).join("");
  const vocab: Record<string, number> = {};
  for (let i = 0; i < TOKENS; i++) vocab[`${word()}${i}`] = i;
  const merges = Array.from({ length: TOKENS - 1000 }, () => `${word()} ${word()}`);
  const added: { id: number; content: string; special: boolean }[] = [];
  if (edited) {
    for (let i = 0; i < ADDED_TOKENS; i++) {
      vocab[`<extra_${i}>`] = TOKENS + i;
      added.push({ id: TOKENS + i, content: `<extra_${i}>`, special: true });
    }
    for (let i = 0; i < merges.length; i += 997) merges[i] = `${word()} ${word()}`;
  }
  return `${JSON.stringify({ version: "1.0", added_tokens: added, model: { type: "BPE", vocab, merges } }, null, 2)}\n`;
}
