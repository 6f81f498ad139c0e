import fc from "fast-check";
import semver from "semver";
import { describe, expect, it } from "vitest";
import { isExactSemanticVersion } from "../../shared/semantic-version.js";

/** What the check replaces, as shared/manifest.ts used it. */
const bySemver = (v: string): boolean => semver.valid(v) === v;

describe("isExactSemanticVersion: what semver.valid(v) === v accepts", () => {
  it.each([
    "1.0.0",
    "0.0.0",
    "10.20.30",
    "2.0.0-rc.1",
    "1.0.0-alpha",
    "1.0.0-0.3.7",
    "1.0.0-x.7.z.92",
    "1.0.0-x-y-z.--",
    "1.0.0-00a",
    `${Number.MAX_SAFE_INTEGER}.0.0`,
  ])("accepts %s", (v) => {
    expect(isExactSemanticVersion(v)).toBe(true);
    expect(bySemver(v)).toBe(true);
  });

  it.each([
    "v1.0.0",
    "=1.0.0",
    " 1.0.0",
    "1.0.0 ",
    "1.0",
    "1",
    "01.0.0",
    "1.00.0",
    "1.0.0-01",
    "1.0.0-",
    "1.0.0-a..b",
    "1.0.0+build.1",
    "1.0.0-rc.1+build",
    "1.0.0-é",
    `${Number.MAX_SAFE_INTEGER + 2}.0.0`,
    `1.0.0-${"a".repeat(260)}`,
    "",
  ])("refuses %j", (v) => {
    expect(isExactSemanticVersion(v)).toBe(false);
    expect(bySemver(v)).toBe(false);
  });

  it("agrees with semver on generated version-like strings", () => {
    const part = fc.oneof(fc.nat({ max: 20 }).map(String), fc.constantFrom("00", "01", "9007199254740993", "x", ""));
    const ident = fc.stringMatching(/^[0-9a-zA-Z-]{0,4}$/);
    const version = fc
      .tuple(
        fc.constantFrom("", "v", " ", "="),
        part,
        part,
        part,
        fc.option(fc.array(ident, { minLength: 1, maxLength: 3 })),
        fc.option(ident),
      )
      .map(([pre, a, b, c, tags, build]) => {
        const head = `${pre}${a}.${b}.${c}`;
        return `${head}${tags ? `-${tags.join(".")}` : ""}${build !== null ? `+${build}` : ""}`;
      });
    fc.assert(
      fc.property(fc.oneof(version, fc.string({ maxLength: 12 })), (v) => {
        expect(isExactSemanticVersion(v)).toBe(bySemver(v));
      }),
      { numRuns: 5000 },
    );
  });
});
