import { posix } from "node:path";
import { importSpecifiers } from "./parse-imports.js";

/** One import: `from` and `to` are repository-relative paths ("agent/agent.ts"). */
export interface ImportEdge {
  from: string;
  to: string;
}

export interface ImportGraph {
  files: string[];
  edges: ImportEdge[];
  /** Relative imports naming a file that is not among the sources read. */
  unresolved: ImportEdge[];
}

/** "./x.js" seen from "agent/cli/a.ts" is "agent/cli/x.ts"; a package or `node:` specifier is not a project file. */
export function resolveSpecifier(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) return undefined;
  return posix.normalize(posix.join(posix.dirname(from), specifier)).replace(/\.js$/, ".ts");
}

/** The project-internal import graph of `sources` (path to text). */
export function buildGraph(sources: ReadonlyMap<string, string>): ImportGraph {
  const edges: ImportEdge[] = [];
  const unresolved: ImportEdge[] = [];
  for (const [from, text] of sources) {
    for (const specifier of importSpecifiers(text)) {
      const to = resolveSpecifier(from, specifier);
      if (to === undefined) continue;
      (sources.has(to) ? edges : unresolved).push({ from, to });
    }
  }
  return { files: [...sources.keys()].sort(), edges, unresolved };
}
