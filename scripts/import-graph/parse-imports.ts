import ts from "typescript";

/**
 * Every module specifier a TypeScript source names: static imports, `export
 * ... from`, `import type`, and dynamic `import("...")` with a literal. Uses the
 * compiler's own pre-processor, so strings and comments that look like imports
 * are not counted.
 */
export function importSpecifiers(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((file) => file.fileName);
}
