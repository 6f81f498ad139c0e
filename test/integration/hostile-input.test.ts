import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Agent } from "../../agent/agent.js";
import { parseConfig } from "../../agent/config.js";
import { silentLogger } from "../../agent/logging.js";
import { buildRelease } from "../../publisher/commands/build.js";
import { keygen } from "../../publisher/commands/keygen.js";
import { publishChannel } from "../../publisher/commands/publish.js";
import { startRepoServer } from "../../publisher/repo-server.js";
import { canonicalJson } from "../../shared/canonical-json.js";
import { releaseManifestPath } from "../../shared/repo-layout.js";
import { generateSigningKeyPair, type PrivateKeyInfo, parsePrivateKey } from "../../shared/signature.js";
import { type CraftEntry, craftBundle, fileOf, loadKey, writePointer, writeRelease } from "../helpers/repo-craft.js";
import { setTypeflag } from "../helpers/tar-craft.js";

const NAME = "demo-model";
const CHANNEL = "stable";

let root: string;
let template: { repoDir: string; publicKeyPath: string; sequence: number };
let key: PrivateKeyInfo;
let health: Server;
let healthUrl: string;

// Each case's own world (beforeEach): a copy of the repository, its server, a device and its agent.
let caseRoot: string;
let repoDir: string;
let dataDir: string;
let repo: { url: string; close(): Promise<void> } | undefined;
let agent: Agent | undefined;
let sequence: number;
const sentinelOutside = () => join(caseRoot, "outside");

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    out.push(join(e.parentPath, e.name).slice(dir.length));
  }
  return out.sort();
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "edgepull-hostile-"));
  const keys = await keygen({ outDir: join(root, "keys") });
  key = await loadKey(keys.privateKeyPath);
  health = createServer((_req, res) => res.end("ready"));
  await new Promise<void>((r) => health.listen(0, "127.0.0.1", r));
  healthUrl = `http://127.0.0.1:${(health.address() as { port: number }).port}/ready`;
  // v1, built and published the ordinary way, is the version every hostile input must leave alone.
  // Built once; each case starts from its own copy of this repository.
  const templateRepo = join(root, "template-repo");
  const model = join(root, "model-v1");
  await mkdir(model, { recursive: true });
  await writeFile(join(model, "weights.bin"), Buffer.alloc(4096, 7));
  await writeFile(join(model, "config.json"), '{"v":1}');
  await buildRelease({ modelDir: model, name: NAME, version: "1.0.0", repoDir: templateRepo, keyPath: keys.privateKeyPath });
  await publishChannel({ repoDir: templateRepo, name: NAME, version: "1.0.0", channel: CHANNEL, keyPath: keys.privateKeyPath });
  const pointerText = await readFile(join(templateRepo, "channels", NAME, `${CHANNEL}.json`), "utf8");
  const published = (JSON.parse(pointerText) as { signed: { sequence: number } }).signed.sequence;
  // Re-pointed ten sequences on, as a channel with some history would be: every case's
  // device first accepts this, so a lower sequence is a replay in each world of its own.
  const sequence = published + 10;
  const releaseText = await readFile(join(templateRepo, releaseManifestPath(NAME, "1.0.0")), "utf8");
  await writePointer(templateRepo, { name: NAME, channel: CHANNEL, version: "1.0.0", sequence, releaseText, keys: [key] });
  template = { repoDir: templateRepo, publicKeyPath: keys.publicKeyPath, sequence };
});

beforeEach(async () => {
  caseRoot = await mkdtemp(join(root, "case-"));
  repoDir = join(caseRoot, "repo");
  dataDir = join(caseRoot, "device", "data");
  sequence = template.sequence;
  await mkdir(sentinelOutside(), { recursive: true });
  await writeFile(join(sentinelOutside(), "keep.txt"), "untouched");
  await cp(template.repoDir, repoDir, { recursive: true });
  repo = await startRepoServer({ repoDir, port: 0, host: "127.0.0.1" });
  const config = parseConfig(
    {
      deviceId: "dev-hostile",
      dataDir,
      name: NAME,
      channel: CHANNEL,
      repository: repo.url,
      trustedKeys: [template.publicKeyPath],
      service: { mode: "command", command: ["true"] },
      health: { url: healthUrl, timeoutSeconds: 5, probationSeconds: 0 },
      download: { retries: 1, idleTimeoutSeconds: 5 },
      diskReserveMiB: 0,
    },
    join(caseRoot, "device", "agent.json"),
  );
  agent = await Agent.open(config, silentLogger(), "test");
  const first = await agent.check("test", { wait: true });
  expect(first.attempt?.result).toBe("succeeded");
});

afterEach(async () => {
  await agent?.stop();
  await repo?.close();
  agent = repo = undefined;
});

afterAll(async () => {
  await new Promise((r) => health?.close(r));
  await rm(root, { recursive: true, force: true });
});

async function expectUntouched(before: string[]): Promise<void> {
  expect(await readFile(join(dataDir, "current", "config.json"), "utf8")).toBe('{"v":1}');
  expect(await listTree(sentinelOutside())).toEqual(["/keep.txt"]);
  expect(await listTree(join(dataDir, "versions"))).toEqual(before);
  expect(await readdir(join(dataDir, "staging"))).toEqual([]);
}

/** Publishes a crafted release and returns what the agent made of it: the thrown code or the attempt's. */
async function offer(make: (version: string) => Promise<string | undefined>, version: string): Promise<string> {
  const releaseText = await make(version);
  if (releaseText !== undefined) {
    sequence += 1;
    await writePointer(repoDir, { name: NAME, channel: CHANNEL, version, sequence, releaseText, keys: [key] });
  }
  if (!agent) throw new Error("this case has no agent: its beforeEach failed");
  try {
    const result = await agent.check("test", { wait: true });
    return result.attempt?.errorCode ?? `no error (${result.decision.action})`;
  } catch (err) {
    return (err as { code: string }).code;
  }
}

const good = Buffer.from("model bytes");
const files = [fileOf("model.bin", good)];

/** A signed bundle and release at version v with these payload entries (by default the honest ones). */
async function releaseWith(
  v: string,
  payloadEntries: CraftEntry[] = [{ name: "payload/model.bin", content: good }],
  signer: PrivateKeyInfo = key,
): Promise<string> {
  const bundle = await craftBundle({ name: NAME, version: v, files, key: signer, payloadEntries });
  return writeRelease(repoDir, { name: NAME, version: v, files, bundle, key: signer });
}

/** A signed release whose manifest text is then edited (what canonical JSON cannot write: repeated keys, deep nesting). */
async function rewriteRelease(v: string, edit: (text: string) => string): Promise<string> {
  const text = edit(await releaseWith(v));
  await writeFile(join(repoDir, releaseManifestPath(NAME, v)), text);
  return text;
}

describe("hostile and corrupt input never touches the active version", () => {
  it.each([
    [
      "tampered bundle bytes",
      "DIGEST_MISMATCH",
      async (v: string) => {
        const text = await releaseWith(v);
        const path = join(repoDir, "releases", NAME, v, `${NAME}-${v}.tar.gz`);
        const bytes = await readFile(path);
        bytes[bytes.length - 30] = (bytes[bytes.length - 30] ?? 0) ^ 0xff;
        await writeFile(path, bytes);
        return text;
      },
    ],
    [
      "a truncated bundle (signed as such)",
      "BUNDLE_TRUNCATED",
      async (v: string) => {
        const full = await craftBundle({
          name: NAME,
          version: v,
          files,
          key,
          payloadEntries: [{ name: "payload/model.bin", content: good }],
        });
        return writeRelease(repoDir, {
          name: NAME,
          version: v,
          files,
          bundle: full.subarray(0, Math.floor(full.length * 0.6)),
          key,
        });
      },
    ],
    [
      "a bundle larger than the manifest says",
      "SIZE_MISMATCH",
      async (v: string) => {
        const bundle = await craftBundle({
          name: NAME,
          version: v,
          files,
          key,
          payloadEntries: [{ name: "payload/model.bin", content: good }],
        });
        return writeRelease(repoDir, { name: NAME, version: v, files, bundle, key, bundleRef: { size: bundle.length - 10 } });
      },
    ],
    [
      "a ../ path",
      "PATH_UNSAFE",
      async (v: string) => {
        return releaseWith(v, [{ name: "payload/../../../outside/pwned.txt", content: good }]);
      },
    ],
    [
      "an absolute path",
      "PATH_UNSAFE",
      async (v: string) => {
        return releaseWith(v, [{ name: join(sentinelOutside(), "abs.txt"), content: good }]);
      },
    ],
    [
      "a symlink escaping the version folder",
      "ENTRY_FORBIDDEN",
      async (v: string) => {
        return releaseWith(v, [
          { name: "payload/model.bin", type: "symlink", linkname: sentinelOutside() },
          { name: "payload/model.bin/keep.txt", content: good },
        ]);
      },
    ],
    [
      "a pointer signed by an untrusted key",
      "KEY_UNTRUSTED",
      async (v: string) => {
        const stranger = parsePrivateKey(generateSigningKeyPair().privatePem, "stranger");
        const text = await releaseWith(v, undefined, stranger);
        sequence += 1;
        await writePointer(repoDir, { name: NAME, channel: CHANNEL, version: v, sequence, releaseText: text, keys: [stranger] });
        return undefined;
      },
    ],
    [
      "an unsigned pointer",
      "SIGNATURE_MISSING",
      async (v: string) => {
        const text = await releaseWith(v);
        sequence += 1;
        const signed = JSON.parse(
          await writePointer(repoDir, { name: NAME, channel: CHANNEL, version: v, sequence, releaseText: text, keys: [key] }),
        );
        await writePointer(repoDir, {
          name: NAME,
          channel: CHANNEL,
          version: v,
          sequence,
          releaseText: text,
          keys: [],
          raw: JSON.stringify({ signed: signed.signed, signatures: [] }),
        });
        return undefined;
      },
    ],
    [
      "an expired pointer",
      "METADATA_EXPIRED",
      async (v: string) => {
        const text = await releaseWith(v);
        sequence += 1;
        await writePointer(repoDir, {
          name: NAME,
          channel: CHANNEL,
          version: v,
          sequence,
          releaseText: text,
          keys: [key],
          expiresAt: "2020-01-01T00:00:00Z",
        });
        return undefined;
      },
    ],
    [
      "an older sequence (a replayed pointer)",
      "SEQUENCE_REPLAY",
      async (v: string) => {
        const text = await releaseWith(v);
        await writePointer(repoDir, { name: NAME, channel: CHANNEL, version: v, sequence: 2, releaseText: text, keys: [key] });
        return undefined;
      },
    ],
    [
      "malformed JSON",
      "METADATA_MALFORMED",
      async (v: string) => {
        await writePointer(repoDir, {
          name: NAME,
          channel: CHANNEL,
          version: v,
          sequence: 1,
          releaseText: "",
          keys: [],
          raw: '{"signed": {"_type": "edgepull/chan',
        });
        return undefined;
      },
    ],
    [
      "a forged pointer (content changed after signing)",
      "SIGNATURE_INVALID",
      async (v: string) => {
        const text = await releaseWith(v);
        sequence += 1;
        const env = JSON.parse(
          await writePointer(repoDir, { name: NAME, channel: CHANNEL, version: v, sequence, releaseText: text, keys: [key] }),
        );
        env.signed.sequence += 1000;
        await writePointer(repoDir, {
          name: NAME,
          channel: CHANNEL,
          version: v,
          sequence,
          releaseText: text,
          keys: [],
          raw: canonicalJson(env),
        });
        return undefined;
      },
    ],
    [
      "a pointer with a number past the largest double (was INTERNAL)",
      "METADATA_MALFORMED",
      async (v: string) => {
        const text = await releaseWith(v);
        sequence += 1;
        const signed = await writePointer(repoDir, {
          name: NAME,
          channel: CHANNEL,
          version: v,
          sequence,
          releaseText: text,
          keys: [key],
        });
        await writePointer(repoDir, {
          name: NAME,
          channel: CHANNEL,
          version: v,
          sequence,
          releaseText: text,
          keys: [],
          raw: signed.replace(`"sequence":${sequence}`, '"sequence":1e400'),
        });
        return undefined;
      },
    ],
    [
      "a release manifest nested 100 000 levels deep (was INTERNAL)",
      "METADATA_MALFORMED",
      async (v: string) =>
        rewriteRelease(v, (t) => t.replace('"signed":{', `"signed":{"x":${"[".repeat(1e5)}${"]".repeat(1e5)},`)),
    ],
    [
      "a release manifest naming its version twice",
      "METADATA_MALFORMED",
      async (v: string) => rewriteRelease(v, (t) => t.replace('"signed":{', '"signed":{"version":"9.9.9",')),
    ],
    [
      "a bundle entry of a tar type the extractor does not know (GNU sparse)",
      "ENTRY_FORBIDDEN",
      async (v: string) => {
        const tar = gunzipSync(
          await craftBundle({
            name: NAME,
            version: v,
            files,
            key,
            payloadEntries: [{ name: "payload/model.bin", content: good }],
          }),
        );
        const bundle = gzipSync(setTypeflag(tar, "payload/model.bin", "S"));
        return writeRelease(repoDir, { name: NAME, version: v, files, bundle, key });
      },
    ],
    [
      "a signed path too long for the filesystem under the data folder (was INTERNAL)",
      "PATH_UNSAFE",
      async (v: string) => {
        const path = `${Array.from({ length: 20 }, (_, i) => `${i}`.padEnd(203, "d")).join("/")}/f.bin`;
        const longFiles = [fileOf(path, good)];
        const bundle = await craftBundle({
          name: NAME,
          version: v,
          files: longFiles,
          key,
          payloadEntries: [{ name: `payload/${path}`, content: good }],
        });
        return writeRelease(repoDir, { name: NAME, version: v, files: longFiles, bundle, key });
      },
    ],
  ])("%s -> %s", async (_name, code, make) => {
    const before = await listTree(join(dataDir, "versions"));
    const version = `1.0.${Math.floor(Math.random() * 1e6) + 1}`;
    expect(await offer(make, version)).toBe(code);
    await expectUntouched(before);
  });
});
