import { once } from "node:events";
import { PassThrough, Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { componentLogger } from "../../agent/logging.js";
import { logServiceOutput, MAX_LINE_BYTES } from "../../agent/service/service-output.js";

function capture() {
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      raw.push(...chunk.toString().split("\n").filter(Boolean));
      cb();
    },
  });
  const logger = pino({ base: undefined }, stream);
  return { raw, logger, lines: () => raw.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe("the service's output in the agent's log", () => {
  it("one log line per line, a last line without a newline at the end, CRLF trimmed", async () => {
    const { logger, lines } = capture();
    const out = new PassThrough();
    logServiceOutput(out, logger, { version: "2.0.0", pid: 77, stream: "stderr" });
    out.write("first\r\nsec");
    out.write("ond\nno newline");
    out.end();
    await once(out, "end");
    expect(lines().map((l) => [l.msg, l.version, l.servicePid, l.stream, l.source])).toEqual([
      ["first", "2.0.0", 77, "stderr", "service"],
      ["second", "2.0.0", 77, "stderr", "service"],
      ["no newline", "2.0.0", 77, "stderr", "service"],
    ]);
  });

  it("a line that never ends is logged in bounded pieces as it comes, nothing dropped", async () => {
    const { logger, lines } = capture();
    const out = new PassThrough();
    logServiceOutput(out, logger, { version: "2.0.0", pid: 1, stream: "stdout" });
    const text = "é".repeat(50_000);
    for (let i = 0; i < text.length; i += 1000) out.write(text.slice(i, i + 1000));
    // Before the end, most of it is already out: memory holds at most a piece.
    await new Promise((r) => setImmediate(r));
    expect(lines().length).toBeGreaterThan(5);
    out.end("\n");
    await once(out, "end");
    const all = lines();
    for (const l of all) expect(Buffer.byteLength(String(l.msg))).toBeLessThanOrEqual(MAX_LINE_BYTES);
    expect(all.map((l) => l.msg).join("")).toBe(text);
    expect(all.map((l) => l.part)).toEqual(all.map((_, i) => i + 1));
    expect(all.at(-1)?.continued).toBe(false);
  });

  it("componentLogger: one component key per line, whatever it was made from", () => {
    const { logger, raw, lines } = capture();
    const updater = componentLogger(logger.child({ deviceId: "cam-1" }), "updater");
    const download = componentLogger(updater, "download");
    download.info("x");
    updater.info("y");
    for (const line of raw) expect(line.split('"component"').length - 1).toBe(1);
    expect(lines().map((l) => [l.component, l.deviceId])).toEqual([
      ["download", "cam-1"],
      ["updater", "cam-1"],
    ]);
  });
});
