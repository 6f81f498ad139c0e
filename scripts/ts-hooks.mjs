// Module hooks that let Node 20 run the repository's TypeScript scripts
// without a build (Node 20 cannot strip types itself): `.js` specifiers that
// name a `.ts` source resolve to it, and `.ts` files are transpiled on load,
// with no type check (`npm run typecheck` does that). Registered by
// ts-register.mjs: `node --import ./scripts/ts-register.mjs scripts/x.ts`.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import ts from "typescript";

export async function resolve(specifier, context, nextResolve) {
  const fromTs = context.parentURL?.endsWith(".ts") ?? false;
  if (fromTs && specifier.startsWith(".") && specifier.endsWith(".js")) {
    const tsUrl = new URL(specifier.replace(/\.js$/, ".ts"), context.parentURL);
    if (existsSync(fileURLToPath(tsUrl))) return { url: tsUrl.href, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (!url.endsWith(".ts")) return nextLoad(url, context);
  const source = await readFile(fileURLToPath(url), "utf8");
  const output = ts.transpileModule(source, {
    fileName: fileURLToPath(url),
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  });
  return { format: "module", source: output.outputText, shortCircuit: true };
}
