import { describe, expect, it } from "vitest";
import { findCycles } from "../../scripts/import-graph/cycles.js";
import { buildGraph } from "../../scripts/import-graph/graph.js";
import { importSpecifiers } from "../../scripts/import-graph/parse-imports.js";
import { checkImports, type ImportRules } from "../../scripts/import-graph/rules.js";

/** A small world: two sides, what they share, and a layered side with three ranks. */
const RULES: ImportRules = {
  zones: [
    { name: "shared", prefix: "shared/", mayImport: ["shared"] },
    { name: "agent", prefix: "agent/", mayImport: ["agent", "shared"] },
    { name: "publisher", prefix: "publisher/", mayImport: ["publisher", "shared"] },
  ],
  layeredZone: "agent",
  layers: [
    { rank: 0, paths: ["agent/state/"], role: "journal" },
    { rank: 1, paths: ["agent/update/"], role: "core" },
    { rank: 2, paths: ["agent/cli/", "agent/main.ts"], role: "commands" },
  ],
  known: [],
};

const world = (files: Record<string, string>) => buildGraph(new Map(Object.entries(files)));
const problems = (files: Record<string, string>, rules: Partial<ImportRules> = {}) =>
  checkImports(world(files), { ...RULES, ...rules });

const CLEAN = {
  "shared/errors.ts": "export class E {}",
  "agent/state/store.ts": 'import { E } from "../../shared/errors.js";\nimport Database from "better-sqlite3";',
  "agent/update/machine.ts": 'import type { Row } from "../state/store.js";',
  "agent/cli/status.ts": 'import "../update/machine.js";\nimport { readFile } from "node:fs/promises";',
  "agent/main.ts": 'const { run } = await import("./cli/status.js");',
  "publisher/main.ts": 'export * from "../shared/errors.js";',
};

describe("import specifiers", () => {
  it("counts static, type-only, re-exported and dynamic imports, not look-alikes in strings or comments", () => {
    const source = [
      'import { a } from "./a.js";',
      'import type { B } from "./b.js";',
      'export { c } from "./c.js";',
      'const d = await import("./d.js");',
      '// import { e } from "./e.js";',
      'const text = "import { f } from \\"./f.js\\"";',
    ].join("\n");
    expect(importSpecifiers(source)).toEqual(["./a.js", "./b.js", "./c.js", "./d.js"]);
  });
});

describe("the import check", () => {
  it("passes a graph that keeps every rule (packages and node: builtins are not project files)", () => {
    expect(problems(CLEAN)).toEqual([]);
  });

  it("names each forbidden import across zones, one line each", () => {
    const found = problems({
      ...CLEAN,
      "shared/errors.ts": 'import "../agent/state/store.js";',
      "publisher/main.ts": 'import { x } from "../agent/update/machine.js";',
      "agent/state/store.ts": 'import "../../publisher/keys.js";',
      "publisher/keys.ts": "export const k = 1;",
    });
    expect(found).toEqual([
      "agent/state/store.ts imports publisher/keys.ts: agent/ may import only agent, shared, not publisher",
      "publisher/main.ts imports agent/update/machine.ts: publisher/ may import only publisher, shared, not agent",
      "shared/errors.ts imports agent/state/store.ts: shared/ may import only shared, not agent",
    ]);
  });

  it("refuses an upward import between layers, also a type-only one, and allows the same rank", () => {
    const found = problems({
      ...CLEAN,
      "agent/state/store.ts": 'import type { Phase } from "../update/machine.js";',
      "agent/update/machine.ts": 'import "../main.js";',
      "agent/cli/status.ts": 'import "../main.js";',
    });
    expect(found).toEqual([
      "agent/state/store.ts imports agent/update/machine.ts: agent/state/ (rank 0, journal) may not import agent/update/ (rank 1, core): the dependency points upward",
      "agent/update/machine.ts imports agent/main.ts: agent/update/ (rank 1, core) may not import agent/main.ts (rank 2, commands): the dependency points upward",
      "import cycle: agent/cli/status.ts -> agent/main.ts -> agent/cli/status.ts",
    ]);
  });

  it("asks for a layer for a file of the layered zone that has none, and names a missing import target", () => {
    const found = problems({ ...CLEAN, "agent/extra.ts": 'import "./state/gone.js";' });
    expect(found).toEqual([
      "agent/extra.ts imports agent/state/gone.ts, which does not exist",
      "agent/extra.ts is in no layer of agent/: add it to the layer table",
    ]);
  });

  it("reports each import cycle once, as a closed path through its files", () => {
    const found = problems({
      ...CLEAN,
      "agent/update/a.ts": 'import "./b.js";',
      "agent/update/b.ts": 'import "./c.js";\nimport "./a.js";',
      "agent/update/c.ts": 'import "./a.js";',
      "shared/x.ts": 'import "./x.js";',
    });
    expect(found).toEqual([
      "import cycle: agent/update/a.ts -> agent/update/b.ts -> agent/update/a.ts",
      "import cycle: shared/x.ts -> shared/x.ts",
    ]);
  });

  it("lets an allow-listed import through, and fails on an entry that no longer matches or is not a violation", () => {
    const files = { ...CLEAN, "publisher/main.ts": 'import "../agent/state/store.js";' };
    const entry = { from: "publisher/main.ts", to: "agent/state/store.ts", reason: "moving", issue: "1" };
    expect(problems(files, { known: [entry] })).toEqual([]);
    expect(problems(CLEAN, { known: [entry] })).toEqual([
      'allow-list entry "publisher/main.ts -> agent/state/store.ts" matches no import any more: remove it',
    ]);
    const legal = { from: "agent/cli/status.ts", to: "agent/update/machine.ts", reason: "", issue: "1" };
    expect(problems(CLEAN, { known: [legal] })).toEqual([
      'allow-list entry "agent/cli/status.ts -> agent/update/machine.ts" is allowed by the rules: remove it',
    ]);
  });
});

describe("cycles", () => {
  it("finds the shortest closed path of a component, starting at its first file", () => {
    const edges = [
      { from: "d", to: "b" },
      { from: "b", to: "c" },
      { from: "c", to: "d" },
      { from: "c", to: "b" },
      { from: "a", to: "b" },
    ];
    expect(findCycles(["a", "b", "c", "d"], edges)).toEqual([["b", "c", "b"]]);
  });

  it("walks a long chain without recursion", () => {
    const files = Array.from({ length: 20_000 }, (_, i) => `f${String(i).padStart(5, "0")}`);
    const edges = files.map((from, i) => ({ from, to: files[(i + 1) % files.length]! }));
    const [cycle] = findCycles(files, edges);
    expect(cycle?.length).toBe(files.length + 1);
  });
});
