import { once } from "node:events";
import { rm } from "node:fs/promises";
import { PassThrough } from "node:stream";
import type { StreamExtraction, StreamExtractOptions } from "../../shared/bundle-reader/extract.js";
import { IO_CHUNK } from "../../shared/digest.js";
import type { Logger } from "../logging.js";
import type { ByteTee } from "./part-writer.js";

type Outcome = { ok: true; extraction: StreamExtraction } | { ok: false; error: unknown };

interface Run {
  input: PassThrough;
  outcome: Promise<Outcome>;
  settled: boolean;
  /** Stopped on purpose (the file starts over, or the download failed): its error is no news. */
  stopped: boolean;
}

/**
 * Extraction fed by the download as the bytes arrive (gunzip -> tar ->
 * per-file SHA-256 -> staging files), with every check of the two-pass
 * extractor. It never decides the attempt: a failure here (a hostile entry, a
 * full disk) only stops it and removes its folder, the download goes on, and
 * the staging step, finding nothing handed over, extracts from the finished
 * file the usual way and fails there exactly as it would have. What it hands
 * over is used only after the whole bundle's SHA-256 matched too.
 */
export class OnePassExtraction implements ByteTee {
  private run: Run | undefined;

  constructor(private readonly opts: StreamExtractOptions & { logger: Logger }) {}

  /** Starts again from the bundle's first byte, in an empty staging folder. */
  async reset(): Promise<void> {
    await this.stop();
    await rm(this.opts.destDir, { recursive: true, force: true });
    // Loaded here, not at start: tar-stream and the extraction code stay out of an idle daemon until it installs.
    const { extractBundleStream } = await import("../../shared/bundle-reader/extract.js");
    // A few MiB in flight: the download and the extraction each keep going while the other waits on the disk.
    const input = new PassThrough({ highWaterMark: 4 * IO_CHUNK });
    // A write racing the extractor's own failure must not become an unhandled 'error'.
    input.on("error", () => {});
    const run: Run = { input, settled: false, stopped: false, outcome: Promise.resolve({ ok: false, error: undefined }) };
    run.outcome = extractBundleStream(input, this.opts).then(
      (extraction): Outcome => ({ ok: true, extraction }),
      (error: unknown): Outcome => {
        if (!run.stopped && !this.opts.signal?.aborted) {
          this.opts.logger.warn(
            { err: error },
            "extraction while downloading stopped; the bundle is extracted again once downloaded",
          );
        }
        return { ok: false, error };
      },
    );
    void run.outcome.then(() => {
      run.settled = true;
    });
    this.run = run;
  }

  /** The next bytes of the bundle (1 MiB pieces from the part writer); waits while the extraction is behind. */
  async write(chunk: Buffer): Promise<void> {
    const run = this.run;
    if (!run || run.settled || run.input.write(chunk)) return;
    await Promise.race([once(run.input, "drain").catch(() => undefined), run.outcome]);
  }

  /**
   * After the last byte (the download verified): the extraction's result when
   * it read the whole bundle cleanly, undefined when it stopped or never ran.
   */
  async finish(): Promise<StreamExtraction | undefined> {
    const run = this.run;
    if (!run) return undefined;
    run.input.end();
    const outcome = await run.outcome;
    this.run = undefined;
    return outcome.ok ? outcome.extraction : undefined;
  }

  /** The download failed or was stopped: nothing of this extraction is kept. */
  async discard(): Promise<void> {
    await this.stop();
    await rm(this.opts.destDir, { recursive: true, force: true });
  }

  private async stop(): Promise<void> {
    const run = this.run;
    this.run = undefined;
    if (!run) return;
    run.stopped = true;
    run.input.destroy();
    await run.outcome;
  }
}
