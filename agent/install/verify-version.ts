import { lstat, readdir } from "node:fs/promises";
import { join, relative } from "node:path";
import { sha256File } from "../../shared/digest.js";
import type { PayloadFile } from "../../shared/manifest.js";

export interface FileProblem {
  path: string;
  problem: "missing" | "size" | "digest" | "unexpected" | "not-a-file";
  expected?: string;
  actual?: string;
}

/** Re-hashes a version folder against its manifest; lists every difference. */
export async function verifyVersionDir(dir: string, files: PayloadFile[]): Promise<FileProblem[]> {
  const problems: FileProblem[] = [];
  const listed = new Set(files.map((f) => f.path));
  for (const f of files) {
    const path = join(dir, f.path);
    const st = await lstat(path).catch(() => undefined);
    if (!st) {
      problems.push({ path: f.path, problem: "missing" });
      continue;
    }
    if (!st.isFile()) {
      problems.push({ path: f.path, problem: "not-a-file" });
      continue;
    }
    if (st.size !== f.size) {
      problems.push({ path: f.path, problem: "size", expected: String(f.size), actual: String(st.size) });
      continue;
    }
    const digest = await sha256File(path);
    if (digest.sha256 !== f.sha256) problems.push({ path: f.path, problem: "digest", expected: f.sha256, actual: digest.sha256 });
  }
  for (const found of await walk(dir)) {
    const rel = relative(dir, found);
    if (!listed.has(rel)) problems.push({ path: rel, problem: "unexpected" });
  }
  return problems;
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(path)));
    else out.push(path);
  }
  return out;
}
