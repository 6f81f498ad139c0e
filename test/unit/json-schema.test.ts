import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadSchemas, SCHEMA_DIR, SchemaValidator, unsupportedKeywords } from "../helpers/json-schema.js";

/** The schema tests are only as good as the validator: it must refuse what breaks each keyword it claims. */
const schemas = new Map<string, Record<string, unknown>>([
  [
    "t.json",
    {
      type: "object",
      required: ["n", "kind"],
      additionalProperties: false,
      properties: {
        n: { type: "integer", minimum: 0, maximum: 10 },
        kind: { enum: ["a", "b"] },
        hex: { $ref: "other.json#/$defs/hex" },
        list: { type: "array", items: { type: "string" } },
        maybe: { anyOf: [{ type: "string" }, { type: "null" }] },
        fixed: { const: true },
        notBoth: { type: "object", not: { required: ["x", "y"] } },
      },
    },
  ],
  ["other.json", { $defs: { hex: { type: "string", pattern: "^[0-9a-f]+$" } } }],
  ["odd.json", { type: "object", propertyNames: { pattern: "^a" } }],
]);
const v = new SchemaValidator(schemas);
const ok = { n: 1, kind: "a" };

describe("the test suite's JSON Schema validator", () => {
  it("accepts a conforming value", () => {
    expect(v.validate("t.json", { ...ok, hex: "ab12", list: ["x"], maybe: null, fixed: true, notBoth: { x: 1 } })).toEqual([]);
  });

  it.each([
    ["a missing required property", { kind: "a" }, "lacks required n"],
    ["a wrong type", { ...ok, n: "1" }, "$.n: is string, expected integer"],
    ["a non-integer", { ...ok, n: 1.5 }, "expected integer"],
    ["a number below minimum", { ...ok, n: -1 }, "-1 < 0"],
    ["a number above maximum", { ...ok, n: 11 }, "11 > 10"],
    ["a value outside enum", { ...ok, kind: "c" }, "is not one of"],
    ["an unlisted property", { ...ok, extra: 1 }, "has extra"],
    ["a pattern mismatch through a $ref to another file", { ...ok, hex: "XYZ" }, "does not match"],
    ["a bad array item", { ...ok, list: ["x", 2] }, "$.list[1]"],
    ["no anyOf branch", { ...ok, maybe: 3 }, "matches no branch of anyOf"],
    ["a const mismatch", { ...ok, fixed: false }, "is not true"],
    ["a forbidden shape under not", { ...ok, notBoth: { x: 1, y: 2 } }, "must not"],
  ])("refuses %s", (_what, value, problem) => {
    const found = v.validate("t.json", value);
    expect(found.join("\n")).toContain(problem);
  });

  it("throws on a keyword it does not implement rather than passing silently", () => {
    expect(() => v.validate("odd.json", {})).toThrow(/propertyNames is not supported/);
    expect(unsupportedKeywords({ properties: { a: { items: { format: "uri" } } } })).toEqual(["#/properties/a/items/format"]);
  });

  it("loads every schema in schemas/, each naming its own file as $id", () => {
    const loaded = loadSchemas();
    expect([...loaded.keys()].sort()).toEqual([
      "agent-check.json",
      "agent-config-check.json",
      "agent-dry-run.json",
      "agent-history.json",
      "agent-install.json",
      "agent-rollback.json",
      "agent-status.json",
      "attempt.json",
      "common.json",
      "device-status.json",
      "error.json",
      "inspect.json",
      "releases.json",
      "verify.json",
    ]);
    for (const [file, schema] of loaded) {
      expect(schema.$id).toBe(file);
      expect(unsupportedKeywords(schema), file).toEqual([]);
      expect(JSON.parse(readFileSync(join(SCHEMA_DIR, file), "utf8"))).toEqual(schema);
    }
  });

  it("verify.json: error exactly when ok is false", () => {
    const real = new SchemaValidator();
    const base = { bundle: "b", name: null, version: null, signedBy: null, files: null, payloadBytes: null };
    expect(real.validate("verify.json", { ...base, ok: false, error: { code: "DIGEST_MISMATCH", message: "m" } })).toEqual([]);
    expect(real.validate("verify.json", { ...base, ok: false })).not.toEqual([]);
    expect(real.validate("verify.json", { ...base, ok: true, error: { code: "X", message: "m" } })).not.toEqual([]);
  });
});
