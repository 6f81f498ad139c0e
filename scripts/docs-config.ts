import { readFile, writeFile } from "node:fs/promises";
import { AGENT_CONFIG_SCHEMA } from "../agent/config/schema.js";
import { renderConfigTable, TABLE_END, TABLE_START, withConfigTable } from "../agent/config/table.js";

/**
 * `npm run docs:config`: rewrites the README's configuration table from the
 * schema (test/unit/config-docs.test.ts fails while they differ).
 */
const readmeUrl = new URL("../../README.md", import.meta.url);
const readme = await readFile(readmeUrl, "utf8");
const updated = withConfigTable(readme, renderConfigTable(AGENT_CONFIG_SCHEMA));
if (updated === undefined) {
  process.stderr.write(`docs:config: README.md lacks the lines\n${TABLE_START}\n${TABLE_END}\n`);
  process.exitCode = 1;
} else if (updated === readme) {
  process.stdout.write("README.md: the configuration table is up to date\n");
} else {
  await writeFile(readmeUrl, updated);
  process.stdout.write("README.md: configuration table rewritten from agent/config/schema.ts\n");
}
