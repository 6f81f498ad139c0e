import type { Field } from "./schema-kit.js";

/** The README's configuration table sits between these two lines. */
export const TABLE_START = "<!-- config-table: generated from agent/config/schema.ts by `npm run docs:config` -->";
export const TABLE_END = "<!-- config-table end -->";

/**
 * One row per key, in the schema's order: a section with a doc of its own
 * gets a row before its keys; a list of objects lists its entries' keys as
 * `key[].child`.
 */
export function configTableRows(schema: Field<unknown>): string[][] {
  const rows: string[][] = [];
  const walk = (fields: Readonly<Record<string, Field<unknown>>>, prefix: string): void => {
    for (const [key, field] of Object.entries(fields)) {
      const at = `${prefix}${key}`;
      if (field.doc !== "") rows.push([`\`${at}\``, field.type, field.shownDefault, field.doc]);
      if (field.fields) walk(field.fields, field.type === "object" ? `${at}.` : `${at}[].`);
    }
  };
  walk(schema.fields ?? {}, "");
  return rows;
}

export function renderConfigTable(schema: Field<unknown>): string {
  const escapePipes = (cell: string) => cell.replaceAll("|", "\\|");
  const line = (cells: string[]) => `| ${cells.map(escapePipes).join(" | ")} |`;
  return [line(["key", "type", "default", "meaning"]), "| --- | --- | --- | --- |", ...configTableRows(schema).map(line)].join(
    "\n",
  );
}

/** `readme` with the text between the markers replaced by `table`; undefined when a marker is missing. */
export function withConfigTable(readme: string, table: string): string | undefined {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) return undefined;
  return `${readme.slice(0, start + TABLE_START.length)}\n${table}\n${readme.slice(end)}`;
}
