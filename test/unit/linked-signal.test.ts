import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { linkSignals } from "../../agent/linked-signal.js";

describe("linkSignals", () => {
  it("aborts with the reason of the first source that aborts", () => {
    const a = new AbortController();
    const b = new AbortController();
    const linked = linkSignals(a.signal, undefined, b.signal);
    expect(linked.signal.aborted).toBe(false);
    b.abort(new Error("b first"));
    a.abort(new Error("a later"));
    expect(linked.signal.aborted).toBe(true);
    expect((linked.signal.reason as Error).message).toBe("b first");
  });

  it("is aborted at once when a source already is", () => {
    const a = new AbortController();
    a.abort("gone");
    const linked = linkSignals(new AbortController().signal, a.signal);
    expect(linked.signal.aborted).toBe(true);
    expect(linked.signal.reason).toBe("gone");
  });

  it("follows nothing once disposed, and leaves no listener on its sources", () => {
    const a = new AbortController();
    const linked = linkSignals(a.signal);
    expect(getEventListeners(a.signal, "abort")).toHaveLength(1);
    linked.dispose();
    expect(getEventListeners(a.signal, "abort")).toHaveLength(0);
    a.abort();
    expect(linked.signal.aborted).toBe(false);
  });

  it("drops its listeners from the other sources when one aborts", () => {
    const a = new AbortController();
    const b = new AbortController();
    linkSignals(a.signal, b.signal);
    a.abort();
    expect(getEventListeners(b.signal, "abort")).toHaveLength(0);
  });

  it("with no sources is a signal that never aborts", () => {
    expect(linkSignals(undefined).signal.aborted).toBe(false);
  });
});
