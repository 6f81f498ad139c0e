import { describe, expect, it } from "vitest";
import { EdgeError, toEdgeError } from "../../shared/errors.js";

describe("toEdgeError", () => {
  it.each([
    ["a file write on a full disk", Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" })],
    ["the journal on a full disk", Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" })],
  ])("%s is DISK_SPACE_LOW, never INTERNAL", (_name, thrown) => {
    const err = toEdgeError(thrown);
    expect(err.code).toBe("DISK_SPACE_LOW");
    expect(err.message).toBe(`no space left on the device: ${thrown.message}`);
    expect(err.cause).toBe(thrown);
  });

  it("keeps an EdgeError as it is, and gives anything else the fallback code", () => {
    const edge = new EdgeError("HEALTH_TIMEOUT", "never ready");
    expect(toEdgeError(edge)).toBe(edge);
    expect(toEdgeError(new Error("boom")).code).toBe("INTERNAL");
    expect(toEdgeError("text", "DELTA_FAILED")).toMatchObject({ code: "DELTA_FAILED", message: "text" });
  });
});
