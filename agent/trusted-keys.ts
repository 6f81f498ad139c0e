import { readFile } from "node:fs/promises";
import { EdgeError, toEdgeError } from "../shared/errors.js";
import { type PublicKeyInfo, parsePublicKey } from "../shared/signature.js";

/** Loads every trusted publisher key, listing all the unreadable ones at once. */
export async function loadTrustedKeys(paths: string[]): Promise<PublicKeyInfo[]> {
  const keys: PublicKeyInfo[] = [];
  const problems: string[] = [];
  for (const path of paths) {
    try {
      keys.push(parsePublicKey(await readFile(path), path));
    } catch (err) {
      problems.push(
        (err as NodeJS.ErrnoException).code === "ENOENT" ? `${path} does not exist` : toEdgeError(err, "KEY_INVALID").message,
      );
    }
  }
  if (problems.length > 0) throw new EdgeError("CONFIG_INVALID", `trustedKeys: ${problems.join("; ")}`);
  return keys;
}
