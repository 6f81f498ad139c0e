import { constants } from "node:fs";
import { mkdir, open, rm } from "node:fs/promises";
import { join } from "node:path";
import { EdgeError } from "../../shared/errors.js";
import { fsyncDir } from "../../shared/fs-atomic.js";
import { generateSigningKeyPair } from "../../shared/signature.js";

export const PRIVATE_KEY_FILE = "publisher.key";
export const PUBLIC_KEY_FILE = "publisher.pub";

export interface KeygenResult {
  keyid: string;
  privateKeyPath: string;
  publicKeyPath: string;
}

/**
 * Writes a new Ed25519 key pair. The private key file is created with mode 0600
 * in the open(2) call itself: a chmod afterwards would leave a moment where
 * another user could open it.
 */
export async function keygen(opts: { outDir: string; force?: boolean }): Promise<KeygenResult> {
  const privateKeyPath = join(opts.outDir, PRIVATE_KEY_FILE);
  const publicKeyPath = join(opts.outDir, PUBLIC_KEY_FILE);
  await mkdir(opts.outDir, { recursive: true, mode: 0o700 });
  const pair = generateSigningKeyPair();
  if (opts.force) {
    // Removing first makes O_EXCL below hold for --force too, so a file another
    // process slipped in (or an old one with looser permissions) is never reused.
    await rm(privateKeyPath, { force: true });
    await rm(publicKeyPath, { force: true });
  }
  await writeNew(privateKeyPath, pair.privatePem, 0o600);
  try {
    await writeNew(publicKeyPath, pair.publicPem, 0o644);
  } catch (err) {
    await rm(privateKeyPath, { force: true });
    throw err;
  }
  await fsyncDir(opts.outDir);
  return { keyid: pair.keyid, privateKeyPath, publicKeyPath };
}

async function writeNew(path: string, text: string, mode: number): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "EEXIST") {
      throw new EdgeError(
        "USAGE",
        `${path} already exists; pass --force to replace it (devices trusting the old key will reject new releases)`,
        { cause },
      );
    }
    throw new EdgeError("KEY_INVALID", `cannot create ${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    // A umask can only narrow the mode given to open(2); widen the public key back
    // to 0644 so devices' installers can read it. The private key never needs this.
    if (((await handle.stat()).mode & 0o777) !== mode) await handle.chmod(mode);
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
