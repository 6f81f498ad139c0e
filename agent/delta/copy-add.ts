import { copySource, VarintReader } from "../../shared/copy-add-format.js";
import type { CopyAddStreams } from "../../shared/delta-format.js";
import { EdgeError } from "../../shared/errors.js";

const corrupt = (where: string, message: string) => new EdgeError("BUNDLE_CORRUPT", `delta: ${where}: ${message}`);

/**
 * Rebuilds one copy-add window (format: shared/copy-add-format.ts) into a
 * buffer of exactly `length` bytes. Every number is checked before it is used:
 * a copy stays inside the base window or the part of the target window already
 * rebuilt, no instruction writes past `length`, and every stream is used up
 * exactly, so a hostile delta throws BUNDLE_CORRUPT and never writes outside
 * the window. Runs in one go: a window is at most a few tens of MiB.
 */
export function rebuildCopyAdd(base: Buffer, streams: CopyAddStreams<Buffer>, length: number, where: string): Buffer {
  const out = Buffer.alloc(length);
  const instructions = new VarintReader(streams.instructions, `${where} instructions`);
  const offsets = new VarintReader(streams.offsets, `${where} offsets`);
  const { literals } = streams;
  let pos = 0;
  let lit = 0;
  let baseEnd = 0;
  while (!instructions.done) {
    const add = instructions.next();
    const copy = instructions.next();
    if (add + copy === 0) throw corrupt(where, `an empty instruction at byte ${pos}`);
    if (add > length - pos || copy > length - pos - add) {
      throw corrupt(where, `instruction (add ${add}, copy ${copy}) at byte ${pos} runs past the window's ${length} bytes`);
    }
    if (add > literals.length - lit)
      throw corrupt(where, `adds ${add} bytes at byte ${pos}, the literals hold ${literals.length - lit} more`);
    literals.copy(out, pos, lit, lit + add);
    lit += add;
    pos += add;
    if (copy === 0) continue;
    const source = copySource(offsets.next(), baseEnd);
    if (source.from === "base") {
      if (source.start < 0 || source.start + copy > base.length) {
        throw corrupt(where, `copies base bytes [${source.start}, ${source.start + copy}) of a ${base.length}-byte base window`);
      }
      base.copy(out, pos, source.start, source.start + copy);
      baseEnd = source.start + copy;
    } else {
      const from = pos - source.distance;
      if (from < 0) throw corrupt(where, `copies from ${source.distance} bytes back at byte ${pos}`);
      // An overlapping copy repeats the last `distance` bytes: copied in doubling spans, each a whole number of periods.
      for (let done = 0; done < copy; ) {
        const n = Math.min(copy - done, source.distance + done);
        out.copyWithin(pos + done, from, from + n);
        done += n;
      }
    }
    pos += copy;
  }
  if (pos !== length) throw corrupt(where, `instructions rebuild ${pos} bytes, the window holds ${length}`);
  if (lit !== literals.length) throw corrupt(where, `${literals.length - lit} literal bytes are left over`);
  if (!offsets.done) throw corrupt(where, "offsets are left over");
  return out;
}
