import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";

const REPO_ROOT = join(import.meta.dirname, "..", "..");

/** The folders `npm run build` compiles, read from tsconfig.build.json so the two cannot drift. */
async function compiledFolders(): Promise<string[]> {
  const config = JSON.parse(await readFile(join(REPO_ROOT, "tsconfig.build.json"), "utf8")) as { include: string[] };
  return config.include;
}

async function mtime(path: string): Promise<number | undefined> {
  return (await stat(path).catch(() => undefined))?.mtimeMs;
}

/**
 * Every TypeScript source that changed after its compiled file in dist/ was
 * written (or has none), as "agent/foo.ts" paths. tsc rewrites every output on
 * each build, so comparing each source with its own output is exact.
 */
export async function staleBuildOutputs(): Promise<string[]> {
  const stale: string[] = [];
  for (const folder of await compiledFolders()) {
    for (const entry of await readdir(join(REPO_ROOT, folder), { recursive: true })) {
      if (!entry.endsWith(".ts") || entry.endsWith(".d.ts")) continue;
      const source = join(folder, entry);
      const built = await mtime(join(REPO_ROOT, "dist", source.replace(/\.ts$/, ".js")));
      if (built === undefined || built < ((await mtime(join(REPO_ROOT, source))) ?? 0)) stale.push(source);
    }
  }
  return stale.sort();
}

/** Throws, naming the sources, when dist/ is older than any of them. */
export async function assertBuildFresh(): Promise<void> {
  const stale = await staleBuildOutputs();
  if (stale.length === 0) return;
  const shown = stale.slice(0, 5).join(", ") + (stale.length > 5 ? ` and ${stale.length - 5} more` : "");
  throw new Error(
    `dist/ is older than its sources (${shown} changed after the last build): these tests run the compiled programs, ` +
      "so they would test old code. Run `npm run build` first (`npm test` and the test:* scripts do).",
  );
}
