import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../agent/logging.js";
import { makeDeltas } from "../../publisher/commands/delta.js";
import { keygen } from "../../publisher/commands/keygen.js";
import { extractBundle } from "../../shared/bundle-reader/extract.js";
import { canonicalJson } from "../../shared/canonical-json.js";
import { isEdgeError } from "../../shared/errors.js";
import { PAYLOAD_TYPE } from "../../shared/manifest.js";
import { bundlePath, releaseDir } from "../../shared/repo-layout.js";
import { signEnvelope } from "../../shared/signature.js";
import { ensurePublisherBuilt } from "../helpers/built-publisher.js";
import { SchemaValidator } from "../helpers/json-schema.js";
import { PUBLISH_BIN, type RunResult, runNode } from "../helpers/processes.js";
import { craftBundle, fileOf, loadKey } from "../helpers/repo-craft.js";
import { corrupt, metadataEntries, newSigner, tarGzOf } from "../helpers/tar-craft.js";
import { TestRepository } from "../helpers/test-repository.js";

let root: string;
let repo: TestRepository;
let otherPub: string;
const schemas = new SchemaValidator();

function cli(...args: string[]): Promise<RunResult> {
  return runNode(PUBLISH_BIN, args);
}

/** Runs with --json, checks the exit code and that stdout is one object of the schema, and returns it. */
async function cliJson<T>(schema: string, exit: number, ...args: string[]): Promise<T> {
  const r = await cli(...args, "--json");
  expect(r.code, r.stderr).toBe(exit);
  const value = JSON.parse(r.stdout) as T;
  expect(schemas.validate(schema, value)).toEqual([]);
  return value;
}

interface InspectJson {
  source: { kind: string; location: string };
  name: string;
  version: string;
  compatibility: { arch?: string[] };
  files: { path: string; size: number; sha256: string }[];
  payloadBytes: number;
  bundle: {
    present: boolean;
    location: string;
    signatures: { keyid: string; status: string }[] | null;
    matchesRelease: boolean | null;
    problem: { code: string } | null;
  };
  deltas: { from: string }[] | null;
  release: { signatures: { keyid: string; status: string }[]; envelope: { signed: { version: string } } } | null;
}

interface VerifyJson {
  ok: boolean;
  name: string | null;
  signedBy: string | null;
  files: number | null;
  error?: { code: string; message: string };
}

const bundleOf = (version: string): string => join(repo.repoDir, bundlePath(repo.name, version));
const keyidOf = async (): Promise<string> => (await loadKey(repo.keyPath)).keyid;

beforeAll(async () => {
  await ensurePublisherBuilt();
  root = await mkdtemp(join(tmpdir(), "edgepull-inspect-"));
  repo = await TestRepository.create(root);
  await repo.release("1.0.0", { extraBytes: 256 * 1024, paddingSeed: 7, compatibility: { arch: ["arm64"] } });
  await repo.release("1.1.0", { extraBytes: 256 * 1024, paddingSeed: 7, compatibility: { arch: ["arm64"] } });
  await makeDeltas({ repoDir: repo.repoDir, name: repo.name, from: ["1.0.0"], to: "1.1.0", keyPath: repo.keyPath });
  otherPub = (await keygen({ outDir: join(root, "other-keys") })).publicKeyPath;
}, 120_000);

afterAll(async () => {
  await repo.close();
  await rm(root, { recursive: true, force: true });
});

describe("edge-publish inspect", () => {
  it("shows a bundle's name, version, files, compatibility and signatures, checked against --keys", async () => {
    const release = JSON.parse((await repo.readFile(`${releaseDir(repo.name, "1.0.0")}/release.json`)).toString()) as {
      signed: { files: unknown[] };
    };
    const r = await cliJson<InspectJson>("inspect.json", 0, "inspect", bundleOf("1.0.0"), "--keys", repo.publicKeyPath);
    expect(r.source).toEqual({ kind: "bundle", location: bundleOf("1.0.0") });
    expect([r.name, r.version, r.compatibility]).toEqual([repo.name, "1.0.0", { arch: ["arm64"] }]);
    expect(r.files).toEqual(release.signed.files);
    expect(r.bundle.signatures).toEqual([{ keyid: await keyidOf(), status: "valid" }]);
    expect([r.deltas, r.release]).toEqual([null, null]);

    const unchecked = await cliJson<InspectJson>("inspect.json", 0, "inspect", bundleOf("1.0.0"), "--keys", otherPub);
    expect(unchecked.bundle.signatures).toEqual([{ keyid: await keyidOf(), status: "unknown-key" }]);
    const text = await cli("inspect", bundleOf("1.0.0"));
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`${repo.name} 1.0.0 (bundle `);
    expect(text.stdout).toContain("not checked (no --keys)");
  });

  it("marks a signature that does not match its content INVALID (and still shows it)", async () => {
    const signer = newSigner();
    const content = Buffer.from("weights");
    const files = [fileOf("w.bin", content)];
    const [manifest, sums] = metadataEntries({ name: "m", version: "1.0.0", files, signer });
    const envelope = JSON.parse(manifest?.content?.toString() ?? "") as { signed: { version: string } };
    envelope.signed.version = "6.6.6"; // changed after signing
    const path = join(root, "altered.tar.gz");
    await writeFile(
      path,
      await tarGzOf([
        { name: "manifest.json", content: Buffer.from(canonicalJson(envelope)) },
        sums as { name: string; content: Buffer },
        { name: "payload/w.bin", content },
      ]),
    );
    const pub = join(root, "signer.pub");
    await writeFile(pub, signer.publicKey.key.export({ type: "spki", format: "pem" }));
    const r = await cliJson<InspectJson>("inspect.json", 0, "inspect", path, "--keys", pub);
    expect(r.version).toBe("6.6.6");
    expect(r.bundle.signatures).toEqual([{ keyid: signer.publicKey.keyid, status: "invalid" }]);
    expect((await cli("inspect", path, "--keys", pub)).stdout).toContain("INVALID");
  });

  it("reads only the manifest entry: a bundle whose payload is corrupt still inspects, and verify refuses it", async () => {
    const bytes = await readFile(bundleOf("1.0.0"));
    const damaged = join(root, "damaged.tar.gz");
    await writeFile(damaged, corrupt(corrupt(bytes, Math.floor(bytes.length * 0.6)), Math.floor(bytes.length * 0.8)));
    const r = await cliJson<InspectJson>("inspect.json", 0, "inspect", damaged, "--keys", repo.publicKeyPath);
    expect([r.name, r.version, r.bundle.signatures?.[0]?.status]).toEqual([repo.name, "1.0.0", "valid"]);
    const v = await cliJson<VerifyJson>("verify.json", 1, "verify", damaged, "--keys", repo.publicKeyPath);
    expect(v.ok).toBe(false);
    expect(["BUNDLE_CORRUPT", "DIGEST_MISMATCH", "BUNDLE_TRUNCATED"]).toContain(v.error?.code);
  });

  it("shows a release folder's signed release.json, its deltas, and whether the bundle agrees with it", async () => {
    const dir = join(repo.repoDir, releaseDir(repo.name, "1.1.0"));
    const r = await cliJson<InspectJson>("inspect.json", 0, "inspect", dir, "--keys", repo.publicKeyPath);
    expect(r.source.kind).toBe("release-dir");
    expect(r.deltas?.map((d) => d.from)).toEqual(["1.0.0"]);
    expect(r.release?.signatures).toEqual([{ keyid: await keyidOf(), status: "valid" }]);
    expect(r.release?.envelope.signed.version).toBe("1.1.0");
    expect(r.bundle).toMatchObject({ present: true, matchesRelease: true, problem: null, location: bundleOf("1.1.0") });
    const text = (await cli("inspect", dir)).stdout;
    expect(text).toContain("from 1.0.0:");
    expect(text).toContain('"_type": "edgepull/release"');

    // A bundle swapped for another release's: release.json still shows, the mismatch is named.
    const swapped = join(root, "swapped");
    await mkdir(swapped);
    await writeFile(join(swapped, "release.json"), await readFile(join(dir, "release.json")));
    await writeFile(join(swapped, `${repo.name}-1.1.0.tar.gz`), await readFile(bundleOf("1.0.0")));
    const s = await cliJson<InspectJson>("inspect.json", 0, "inspect", swapped);
    expect(s.bundle).toMatchObject({ present: true, matchesRelease: false, problem: { code: "NAME_MISMATCH" } });
    await rm(join(swapped, `${repo.name}-1.1.0.tar.gz`));
    const missing = await cliJson<InspectJson>("inspect.json", 0, "inspect", swapped);
    expect(missing.bundle).toMatchObject({ present: false, signatures: null, matchesRelease: null });
  });

  it("inspects a release over HTTP from its folder URL or its release.json URL", async () => {
    for (const url of [
      `${repo.url}/${releaseDir(repo.name, "1.1.0")}/`,
      `${repo.url}/${releaseDir(repo.name, "1.1.0")}/release.json`,
    ]) {
      const r = await cliJson<InspectJson>("inspect.json", 0, "inspect", url, "--keys", repo.publicKeyPath);
      expect(r.source).toEqual({ kind: "url", location: `${repo.url}/${releaseDir(repo.name, "1.1.0")}/release.json` });
      expect(r.bundle).toMatchObject({
        present: true,
        matchesRelease: true,
        location: `${repo.url}/${bundlePath(repo.name, "1.1.0")}`,
      });
      expect(r.bundle.signatures?.[0]?.status).toBe("valid");
      expect(r.deltas?.map((d) => d.from)).toEqual(["1.0.0"]);
    }
    const gone = await cliJson<{ error: { code: string } }>("error.json", 1, "inspect", `${repo.url}/releases/nope/1.0.0/`);
    expect(gone.error.code).toBe("HTTP_ERROR");
  });

  it("refuses a path that does not exist, with the error shape on stdout under --json", async () => {
    const r = await cliJson<{ error: { code: string; message: string } }>("error.json", 2, "inspect", join(root, "nothing"));
    expect(r.error.code).toBe("USAGE");
    expect(r.error.message).toContain("does not exist");
  });
});

describe("edge-publish verify", () => {
  it("passes a bundle the publisher built, with the signer named, writing nothing", async () => {
    // Nothing unpacked anywhere: the process's temp folder stays empty.
    const tmp = await mkdtemp(join(root, "tmp-"));
    const r = await runNode(
      PUBLISH_BIN,
      ["verify", bundleOf("1.1.0"), "--keys", otherPub, "--keys", repo.publicKeyPath, "--json"],
      {
        TMPDIR: tmp,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    const v = JSON.parse(r.stdout) as VerifyJson;
    expect(schemas.validate("verify.json", v)).toEqual([]);
    expect(v).toMatchObject({ ok: true, name: repo.name, signedBy: await keyidOf() });
    expect(v.error).toBeUndefined();
    expect(await readdir(tmp)).toEqual([]);
    const text = await cli("verify", bundleOf("1.1.0"), "--keys", repo.publicKeyPath);
    expect([text.code, text.stdout.startsWith(`OK: ${repo.name} 1.1.0`)]).toEqual([0, true]);
  });

  it("fails a tampered payload byte with DIGEST_MISMATCH (exit 1)", async () => {
    // Re-compressed after the edit, as someone altering a bundle would: the gzip layer is sound, one model byte is not.
    const tar = gunzipSync(await readFile(bundleOf("1.0.0")));
    const weights = await readFile(join(root, "models", "1.0.0", "model.safetensors"));
    const at = tar.indexOf(weights.subarray(weights.length - 4096, weights.length - 4000));
    expect(at).toBeGreaterThan(0);
    const path = join(root, "tampered.tar.gz");
    await writeFile(path, gzipSync(corrupt(tar, at + 10)));
    const v = await cliJson<VerifyJson>("verify.json", 1, "verify", path, "--keys", repo.publicKeyPath);
    expect(v).toMatchObject({ ok: false, name: repo.name, error: { code: "DIGEST_MISMATCH" } });
    expect(v.error?.message).toContain("model.safetensors");
    const text = await cli("verify", path, "--keys", repo.publicKeyPath);
    expect([text.code, text.stdout.split(":")[0]]).toEqual([1, "FAILED"]);
  });

  it("fails a bundle signed by none of --keys with KEY_UNTRUSTED, naming nothing it could not verify", async () => {
    const v = await cliJson<VerifyJson>("verify.json", 1, "verify", bundleOf("1.0.0"), "--keys", otherPub);
    expect(v).toMatchObject({ ok: false, name: null, signedBy: null, error: { code: "KEY_UNTRUSTED" } });
  });

  it.each([
    ["a symlink", { name: "payload/w.bin", type: "symlink" as const, linkname: "/etc/passwd" }, "ENTRY_FORBIDDEN"],
    ["an escaping path", { name: "payload/../w.bin", content: Buffer.from("weights") }, "PATH_UNSAFE"],
    ["an entry the manifest does not list", { name: "payload/extra.bin", content: Buffer.from("x") }, "ENTRY_UNEXPECTED"],
  ])("fails a bundle with %s with the code the agent gives it", async (_what, entry, code) => {
    const key = await loadKey(repo.keyPath);
    const content = Buffer.from("weights");
    const files = [fileOf("w.bin", content)];
    const bytes = await craftBundle({ name: "m", version: "1.0.0", files, key, payloadEntries: [entry] });
    const path = join(root, `unsafe-${code}.tar.gz`);
    await writeFile(path, bytes);
    const agentCode = await extractBundle({
      bundlePath: path,
      destDir: join(root, `staging-${code}`),
      expected: { name: "m", version: "1.0.0", files },
      logger: silentLogger(),
    }).then(
      () => "none",
      (err: unknown) => (isEdgeError(err) ? err.code : String(err)),
    );
    expect(agentCode).toBe(code);
    const v = await cliJson<VerifyJson>("verify.json", 1, "verify", path, "--keys", repo.publicKeyPath);
    expect(v.error?.code).toBe(code);
  });

  it("needs --keys (USAGE, exit 2) and a regular file", async () => {
    const r = await cliJson<{ error: { code: string } }>("error.json", 2, "verify", bundleOf("1.0.0"));
    expect(r.error.code).toBe("USAGE");
    const dir = await cliJson<{ error: { code: string } }>("error.json", 1, "verify", root, "--keys", repo.publicKeyPath);
    expect(dir.error.code).toBe("FILE_NOT_REGULAR");
  });

  it("checks a manifest signed over content that was changed: SIGNATURE_INVALID", async () => {
    const key = await loadKey(repo.keyPath);
    const content = Buffer.from("weights");
    const files = [fileOf("w.bin", content)];
    const envelope = signEnvelope({ _type: PAYLOAD_TYPE, specVersion: 1, name: "m", version: "1.0.0", files }, [key]);
    const forged = { ...envelope, signed: { ...envelope.signed, version: "1.0.1" } };
    const path = join(root, "forged.tar.gz");
    const [, sums] = metadataEntries({ name: "m", version: "1.0.1", files, signer: newSigner() });
    await writeFile(
      path,
      await tarGzOf([
        { name: "manifest.json", content: Buffer.from(canonicalJson(forged)) },
        sums as { name: string; content: Buffer },
        { name: "payload/w.bin", content },
      ]),
    );
    const v = await cliJson<VerifyJson>("verify.json", 1, "verify", path, "--keys", repo.publicKeyPath);
    expect(v.error?.code).toBe("SIGNATURE_INVALID");
  });
});
