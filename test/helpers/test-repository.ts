import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeExampleModel } from "../../packaging/example-service/make-model.js";
import { buildRelease } from "../../publisher/commands/build.js";
import { keygen } from "../../publisher/commands/keygen.js";
import { publishChannel } from "../../publisher/commands/publish.js";
import { startRepoServer } from "../../publisher/repo-server.js";

export interface ReleaseOptions {
  /** A config.json that disagrees with the weights: the example model never loads. */
  broken?: boolean;
  extraBytes?: number;
  /** Same value in two versions: the backbone stays, only the head changes (a delta-friendly fine-tune). */
  paddingSeed?: number;
  /** A golden set in `validation/` for the example validator (make-model's `golden`). */
  golden?: { cases?: number; minAccuracy?: number };
  /** Serves fine but fails its own golden set (make-model's `degraded`). */
  degraded?: boolean;
  /** Ready, then every Nth prediction fails with HTTP 500 (make-model's `failEvery`). */
  failEvery?: number;
  /** The weights of this other version (its seed): the two answer alike; with `perturb`, nearly alike. */
  weightsOf?: string;
  /** Every weight moved by up to this (make-model's `perturb`): a light fine-tune. */
  perturb?: number;
  /** false: build only, leave the channel where it is. */
  publish?: boolean;
  compatibility?: { arch?: string[]; labels?: string[] };
  /** Sign the release and its pointer with this private key instead of the repository's own (`keys/`). */
  keyPath?: string;
}

/**
 * The publisher's side of a test world, under `root`: a signing key (`keys/`),
 * a static repository (`repo/`) served over loopback HTTP, and example-model
 * releases built into it from `models/<version>/`.
 */
export class TestRepository {
  private constructor(
    readonly root: string,
    readonly repoDir: string,
    readonly keyPath: string,
    readonly publicKeyPath: string,
    readonly url: string,
    readonly name: string,
    readonly channel: string,
    private readonly closeServer: () => Promise<void>,
  ) {}

  static async create(root: string, opts: { name?: string; channel?: string } = {}): Promise<TestRepository> {
    const repoDir = join(root, "repo");
    const keys = await keygen({ outDir: join(root, "keys") });
    const server = await startRepoServer({ repoDir, port: 0, host: "127.0.0.1" });
    return new TestRepository(
      root,
      repoDir,
      keys.privateKeyPath,
      keys.publicKeyPath,
      server.url,
      opts.name ?? "demo-model",
      opts.channel ?? "stable",
      () => server.close(),
    );
  }

  /** Builds the example model at `version` and (unless `publish: false`) points the channel at it. */
  async release(version: string, opts: ReleaseOptions = {}): Promise<void> {
    const modelDir = join(this.root, "models", version);
    await writeExampleModel(modelDir, {
      version,
      seed: hashSeed(opts.weightsOf ?? version),
      ...(opts.perturb !== undefined ? { perturb: opts.perturb } : {}),
      broken: opts.broken ?? false,
      extraBytes: opts.extraBytes ?? 0,
      paddingSeed: opts.paddingSeed,
      golden: opts.golden,
      degraded: opts.degraded,
      ...(opts.failEvery !== undefined ? { failEvery: opts.failEvery } : {}),
    });
    await buildRelease({
      modelDir,
      name: this.name,
      version,
      repoDir: this.repoDir,
      keyPath: opts.keyPath ?? this.keyPath,
      compatibility: opts.compatibility,
    });
    if (opts.publish !== false) await this.publish(version, opts.keyPath);
  }

  async publish(version: string, keyPath = this.keyPath): Promise<void> {
    await publishChannel({ repoDir: this.repoDir, name: this.name, version, channel: this.channel, keyPath });
  }

  readFile(rel: string): Promise<Buffer> {
    return readFile(join(this.repoDir, rel));
  }

  /** Stops serving; the files stay (the caller owns `root`). */
  close(): Promise<void> {
    return this.closeServer();
  }
}

function hashSeed(version: string): number {
  let h = 2166136261;
  for (const c of version) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return h;
}
