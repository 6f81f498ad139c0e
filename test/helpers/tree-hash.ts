import { createHash } from "node:crypto";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";

/**
 * Every entry under `root`, one line each, sorted: relative path, type, mode
 * bits, and a file's size and SHA-256 or a symlink's target (not followed).
 * Timestamps are left out: they are not content. Two equal lists mean a
 * byte-identical tree; comparing lists (not one digest) shows what differs.
 */
export async function treeListing(root: string): Promise<string[]> {
  const lines: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = await lstat(path);
      const mode = (st.mode & 0o7777).toString(8).padStart(4, "0");
      if (st.isSymbolicLink()) lines.push(`${r} link ${mode} -> ${await readlink(path)}`);
      else if (st.isDirectory()) {
        lines.push(`${r} dir ${mode}`);
        await walk(path, r);
      } else if (st.isFile()) {
        const sha = createHash("sha256")
          .update(await readFile(path))
          .digest("hex");
        lines.push(`${r} file ${mode} ${st.size} ${sha}`);
      } else lines.push(`${r} other ${mode}`);
    }
  };
  await walk(root, "");
  return lines;
}

/** One digest of treeListing, for a test that only needs equal or not. */
export async function treeHash(root: string): Promise<string> {
  return createHash("sha256")
    .update((await treeListing(root)).join("\n"))
    .digest("hex");
}
