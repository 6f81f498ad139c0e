import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./processes.js";

/**
 * A validator for the part of JSON Schema (2020-12) that schemas/ uses: type,
 * enum, const, pattern, minimum, maximum, properties, required,
 * additionalProperties, items, anyOf, not and $ref (within a file, or to
 * another file of schemas/). A keyword outside that part throws, so a schema
 * never silently passes on something this validator does not check.
 */
type Schema = Record<string, unknown>;

const ANNOTATIONS = new Set(["$schema", "$id", "$defs", "title", "description"]);
const CHECKED = new Set([
  "type",
  "enum",
  "const",
  "pattern",
  "minimum",
  "maximum",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "anyOf",
  "not",
  "$ref",
]);

export const SCHEMA_DIR = join(REPO_ROOT, "schemas");

export function loadSchemas(dir = SCHEMA_DIR): Map<string, Schema> {
  const schemas = new Map<string, Schema>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".json"))) {
    schemas.set(file, JSON.parse(readFileSync(join(dir, file), "utf8")) as Schema);
  }
  return schemas;
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

function hasType(value: unknown, type: string): boolean {
  if (type === "integer") return Number.isInteger(value);
  return typeOf(value) === type;
}

function isSchema(value: unknown): value is Schema {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Keywords anywhere in `schema` (every nested schema, visited or not) that this validator does not implement. */
export function unsupportedKeywords(schema: Schema, at = "#"): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(schema)) {
    if (!ANNOTATIONS.has(key) && !CHECKED.has(key)) out.push(`${at}/${key}`);
    if ((key === "properties" || key === "$defs") && isSchema(value)) {
      for (const [name, child] of Object.entries(value))
        if (isSchema(child)) out.push(...unsupportedKeywords(child, `${at}/${key}/${name}`));
    }
    if ((key === "items" || key === "not" || key === "additionalProperties") && isSchema(value)) {
      out.push(...unsupportedKeywords(value, `${at}/${key}`));
    }
    if (key === "anyOf" && Array.isArray(value)) {
      for (const [i, child] of value.entries()) if (isSchema(child)) out.push(...unsupportedKeywords(child, `${at}/anyOf/${i}`));
    }
  }
  return out;
}

export class SchemaValidator {
  constructor(private readonly schemas: Map<string, Schema> = loadSchemas()) {}

  /** Every way `value` breaks schema `file` (empty when it conforms), each as "path: problem". */
  validate(file: string, value: unknown): string[] {
    const root = this.schemas.get(file);
    if (!root) throw new Error(`no schema ${file}`);
    const problems: string[] = [];
    this.check(root, file, value, "$", problems);
    return problems;
  }

  private resolve(ref: string, file: string): { schema: Schema; file: string } {
    const [target = "", pointer = ""] = ref.split("#");
    const inFile = target === "" ? file : target;
    let node: unknown = this.schemas.get(inFile);
    if (!node) throw new Error(`$ref ${ref}: no schema ${inFile}`);
    for (const part of pointer.split("/").filter((p) => p !== "")) node = (node as Schema)[part];
    if (!isSchema(node)) throw new Error(`$ref ${ref} in ${file} resolves to nothing`);
    return { schema: node, file: inFile };
  }

  private check(schema: Schema, file: string, value: unknown, at: string, out: string[]): void {
    for (const key of Object.keys(schema)) {
      if (!ANNOTATIONS.has(key) && !CHECKED.has(key)) throw new Error(`${file}: keyword ${key} is not supported`);
    }
    if (typeof schema.$ref === "string") {
      const target = this.resolve(schema.$ref, file);
      this.check(target.schema, target.file, value, at, out);
    }
    if (schema.type !== undefined) {
      const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
      if (!types.some((t) => hasType(value, t))) {
        out.push(`${at}: is ${typeOf(value)}, expected ${types.join(" or ")}`);
        return;
      }
    }
    if (Array.isArray(schema.enum) && !schema.enum.some((e) => deepEqual(e, value))) {
      out.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
    }
    if ("const" in schema && !deepEqual(schema.const, value)) {
      out.push(`${at}: ${JSON.stringify(value)} is not ${JSON.stringify(schema.const)}`);
    }
    if (typeof value === "string" && typeof schema.pattern === "string" && !new RegExp(schema.pattern, "u").test(value)) {
      out.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
    }
    if (typeof value === "number") {
      if (typeof schema.minimum === "number" && value < schema.minimum) out.push(`${at}: ${value} < ${schema.minimum}`);
      if (typeof schema.maximum === "number" && value > schema.maximum) out.push(`${at}: ${value} > ${schema.maximum}`);
    }
    if (Array.isArray(value) && isSchema(schema.items)) {
      for (const [i, item] of value.entries()) this.check(schema.items, file, item, `${at}[${i}]`, out);
    }
    if (isSchema(value) && typeOf(value) === "object") this.checkObject(schema, file, value, at, out);
    if (Array.isArray(schema.anyOf)) {
      const branches = (schema.anyOf as Schema[]).map((branch) => {
        const found: string[] = [];
        this.check(branch, file, value, at, found);
        return found;
      });
      if (!branches.some((found) => found.length === 0)) {
        out.push(`${at}: matches no branch of anyOf (${branches.map((b) => b.join("; ")).join(" | ")})`);
      }
    }
    if (isSchema(schema.not)) {
      const found: string[] = [];
      this.check(schema.not, file, value, at, found);
      if (found.length === 0) out.push(`${at}: matches a schema it must not (${JSON.stringify(schema.not)})`);
    }
  }

  private checkObject(schema: Schema, file: string, value: Schema, at: string, out: string[]): void {
    const properties = isSchema(schema.properties) ? (schema.properties as Record<string, Schema>) : {};
    for (const key of Array.isArray(schema.required) ? (schema.required as string[]) : []) {
      if (!(key in value)) out.push(`${at}: lacks required ${key}`);
    }
    for (const [key, child] of Object.entries(value)) {
      const sub = properties[key];
      if (sub) this.check(sub, file, child, `${at}.${key}`, out);
      else if (schema.additionalProperties === false) out.push(`${at}: has ${key}, which the schema does not list`);
      else if (isSchema(schema.additionalProperties)) this.check(schema.additionalProperties, file, child, `${at}.${key}`, out);
    }
  }
}
