import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildRelease } from "../../publisher/commands/build.js";
import { keygen } from "../../publisher/commands/keygen.js";

export interface TempPublisher {
  root: string;
  repoDir: string;
  keyPath: string;
  publicKeyPath: string;
  /** Builds one more tiny release of `name` into the repository. */
  build(name: string, version: string): Promise<void>;
}

/** A publisher in a fresh temp folder: a key pair under keys/ and a repository under repo/ holding `versions` of `name`. */
export async function tempPublisher(prefix: string, name: string, versions: string[]): Promise<TempPublisher> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  const repoDir = join(root, "repo");
  const k = await keygen({ outDir: join(root, "keys") });
  const model = join(root, "model");
  await mkdir(model);
  const build = async (n: string, version: string): Promise<void> => {
    await writeFile(join(model, "weights.bin"), `weights ${n} ${version}`);
    await buildRelease({ modelDir: model, name: n, version, repoDir, keyPath: k.privateKeyPath });
  };
  for (const version of versions) await build(name, version);
  return { root, repoDir, keyPath: k.privateKeyPath, publicKeyPath: k.publicKeyPath, build };
}
