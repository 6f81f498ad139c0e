import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../shared/canonical-json.js";

describe("canonicalJson", () => {
  it.each([
    [{ b: 1, a: [true, null, "x"] }, '{"a":[true,null,"x"],"b":1}'],
    [{ z: { y: 2, x: 1 } }, '{"z":{"x":1,"y":2}}'],
    [{ a: undefined, b: "é\n" }, '{"b":"é\\n"}'],
    [[], "[]"],
    ["plain", '"plain"'],
  ])("encodes %j deterministically", (value, expected) => {
    expect(canonicalJson(value)).toBe(expected);
  });

  it("gives the same bytes whatever the key order", () => {
    expect(canonicalJson({ a: 1, b: { c: 2, d: 3 } })).toBe(canonicalJson({ b: { d: 3, c: 2 }, a: 1 }));
  });

  it.each([[{ n: Number.NaN }], [{ n: Number.POSITIVE_INFINITY }], [{ d: new Date(0) }], [{ f: () => 1 }]])(
    "refuses %o",
    (value) => {
      expect(() => canonicalJson(value)).toThrow(/canonical JSON/);
    },
  );
});
