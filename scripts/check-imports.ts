import { readdir, readFile } from "node:fs/promises";
import { join, posix, sep } from "node:path";
import { CHECKED_ROOTS, EDGEPULL_RULES } from "./import-graph/edgepull-rules.js";
import { buildGraph } from "./import-graph/graph.js";
import { checkImports } from "./import-graph/rules.js";

/**
 * Part of `npm run lint`: reads the import graph of the sources and prints one
 * line per forbidden import or import cycle (rules in
 * import-graph/edgepull-rules.ts), exiting 1 when there is any.
 */
const root = process.argv[2] ?? process.cwd();
const sources = new Map<string, string>();
for (const folder of CHECKED_ROOTS) {
  for (const entry of await readdir(join(root, folder), { recursive: true })) {
    if (!entry.endsWith(".ts") || entry.endsWith(".d.ts")) continue;
    const path = posix.join(folder, entry.split(sep).join(posix.sep));
    sources.set(path, await readFile(join(root, path), "utf8"));
  }
}
const problems = checkImports(buildGraph(sources), EDGEPULL_RULES);
for (const problem of problems) process.stderr.write(`${problem}\n`);
if (problems.length > 0) {
  process.stderr.write(`check-imports: ${problems.length} problem(s) in ${sources.size} files\n`);
  process.exitCode = 1;
} else {
  const known = EDGEPULL_RULES.known.length;
  const allowed = known > 0 ? ` (${known} known violation(s) allow-listed in import-graph/edgepull-rules.ts)` : "";
  process.stdout.write(`check-imports: ${sources.size} files, no forbidden import and no cycle${allowed}\n`);
}
