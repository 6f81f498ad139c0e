import { describe, expect, it } from "vitest";
import { compatibilityFlags, integerFlag, positiveNumberFlag } from "../../publisher/cli-spec.js";
import { createProgress, formatProgress, type ProgressStream } from "../../publisher/progress.js";

const MIB = 1024 * 1024;

function recorder(isTTY: boolean): ProgressStream & { text: string } {
  const s = { isTTY, text: "", write: (t: string) => (s.text += t) };
  return s;
}

describe("progress", () => {
  it("formats bytes done of total, rate and ETA", () => {
    expect(formatProgress(50 * MIB, 100 * MIB, 5000, 10)).toBe("[#####-----] 50.0/100.0 MiB 10.0 MiB/s ETA 0:05");
    expect(formatProgress(0, 100 * MIB, 0, 4)).toBe("[----] 0.0/100.0 MiB 0.0 MiB/s ETA --:--");
    expect(formatProgress(0, 0, 10, 4)).toBe("[####] 0.0/0.0 MiB 0.0 MiB/s ETA --:--");
  });

  it("writes nothing when the stream is not a terminal", () => {
    const s = recorder(false);
    const p = createProgress(s, "build");
    p.update(1, 2);
    p.update(2, 2);
    p.finish();
    expect(s.text).toBe("");
  });

  it("off a terminal with plainAfterMs: silent for quick work, then plain lines every plainEveryMs and at the end", () => {
    let now = 0;
    const quick = recorder(false);
    const q = createProgress(quick, "build", () => now, { plainEveryMs: 5000, plainAfterMs: 5000 });
    q.update(1 * MIB, 2 * MIB);
    now = 300;
    q.update(2 * MIB, 2 * MIB);
    q.finish();
    expect(quick.text).toBe("");

    now = 0;
    const slow = recorder(false);
    const p = createProgress(slow, "build", () => now, { plainEveryMs: 5000, plainAfterMs: 5000 });
    for (let t = 0; t <= 12_000; t += 1000) {
      now = t;
      p.update((t / 12_000) * 12 * MIB, 12 * MIB);
    }
    p.finish();
    const lines = slow.text.split("\n").filter(Boolean);
    expect(lines.map((l) => /^build (\d+\.\d)\/12\.0 MiB/.exec(l)?.[1])).toEqual(["5.0", "10.0", "12.0"]);
    expect(slow.text.includes("\r") || slow.text.includes("\u001b")).toBe(false);
  });

  it("redraws one line in place on a terminal, at most every 100 ms, and always at the end", () => {
    let now = 1000;
    const s = recorder(true);
    const p = createProgress(s, "build", () => now);
    p.update(1 * MIB, 4 * MIB);
    now += 10;
    p.update(2 * MIB, 4 * MIB);
    now += 200;
    p.update(3 * MIB, 4 * MIB);
    p.update(4 * MIB, 4 * MIB);
    p.finish();
    const frames = s.text.split("\r").filter((f) => f !== "");
    expect(frames.map((f) => /(\d+\.\d)\/4\.0 MiB/.exec(f)?.[1])).toEqual(["1.0", "3.0", "4.0"]);
    expect(s.text.endsWith("\n")).toBe(true);
  });
});

describe("CLI flag values", () => {
  it("parses integers in range and refuses the rest as USAGE", () => {
    expect(integerFlag(undefined, "port", 0, 65535)).toBeUndefined();
    expect(integerFlag("8080", "port", 0, 65535)).toBe(8080);
    for (const bad of ["-1", "65536", "1.5", "x", ""]) {
      expect(() => integerFlag(bad, "port", 0, 65535)).toThrow(expect.objectContaining({ code: "USAGE" }));
    }
    expect(positiveNumberFlag("0.5", "expires-days")).toBe(0.5);
    expect(() => positiveNumberFlag("0", "expires-days")).toThrow(expect.objectContaining({ code: "USAGE" }));
  });

  it("splits comma lists and drops empty ones", () => {
    expect(compatibilityFlags("arm64, amd64", undefined)).toEqual({ arch: ["arm64", "amd64"] });
    expect(compatibilityFlags(undefined, "cam,,gpu")).toEqual({ labels: ["cam", "gpu"] });
    expect(compatibilityFlags("", " ")).toBeUndefined();
  });
});
