import { seededRandom } from "../packaging/example-service/make-model.js";

/**
 * Seeded standard normal numbers (Box-Muller over mulberry32): the same
 * sequence every run. Trained weights are roughly normal, so floats drawn from
 * this have random mantissas and a spread of small exponents, as real ones do;
 * the delta benchmark and the delta tests build their models from it.
 */
export function gaussian(seed: number): () => number {
  const uniform = seededRandom(seed);
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const value = spare;
      spare = undefined;
      return value;
    }
    // 1 - u lies in (0, 1]: the logarithm stays finite.
    const radius = Math.sqrt(-2 * Math.log(1 - uniform()));
    const angle = 2 * Math.PI * uniform();
    spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };
}

/** `length` floats drawn from N(0, std²). */
export function normalWeights(length: number, seed: number, std: number): Float32Array {
  const next = gaussian(seed);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = next() * std;
  return out;
}
