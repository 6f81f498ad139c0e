import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { verifyPointerText, verifyReleaseText } from "../../agent/sources/intake.js";
import { checkBundleManifest } from "../../shared/bundle-reader/bundle-manifest.js";
import { canonicalJson } from "../../shared/canonical-json.js";
import { sha256Hex } from "../../shared/digest.js";
import { verifyNextKeys } from "../../shared/key-chain.js";
import { parseEnvelopeText } from "../../shared/manifest.js";
import { signEnvelope } from "../../shared/signature.js";
import { SAMPLE, sampleDocuments } from "../helpers/metadata-craft.js";
import { newSigner } from "../helpers/tar-craft.js";

/**
 * Hostile metadata signed by a trusted key (a compromised or buggy build
 * pipeline): every document type, every class of malformation, each with the
 * one code it must end in. "ok" marks what is accepted on purpose.
 */
const signer = newSigner();
const stranger = newSigner();
const trusted = [signer.publicKey];
const NOW = new Date("2030-06-01T00:00:00Z");
const { name: NAME, channel: CHANNEL } = SAMPLE;
const sha = (s: string) => sha256Hex(s);
const { files, release, pointer, payload, keys: keysDoc } = sampleDocuments(signer);
const publicPem = (s = newSigner()) => s.publicKey.key.export({ type: "spki", format: "pem" }).toString();

type Json = Record<string, unknown>;
type Doc = "pointer" | "release" | "payload" | "keys";
const bases: Record<Doc, Json> = {
  pointer: pointer as unknown as Json,
  release: release as unknown as Json,
  payload: payload as unknown as Json,
  keys: keysDoc as unknown as Json,
};

/** The document with `edit` applied to a copy of its content, signed by the trusted key. */
function signedWith(doc: Doc, edit: (v: Json) => void = () => {}, by = signer): string {
  const value = structuredClone(bases[doc]);
  edit(value);
  return canonicalJson(signEnvelope(value, [by.privateKey]));
}

/** The code each document's consumer ends in, or "ok". */
function judge(doc: Doc, text: string): string {
  try {
    if (doc === "pointer") {
      verifyPointerText(text, { trustedKeys: trusted, name: NAME, channel: CHANNEL, now: NOW, highestSequence: 5 });
    } else if (doc === "release") {
      const named = { ...pointer, release: { url: pointer.release.url, size: Buffer.byteLength(text), sha256: sha(text) } };
      verifyReleaseText(text, named, trusted);
    } else if (doc === "payload") {
      checkBundleManifest(text, { name: NAME, version: "1.2.0", files }, trusted);
    } else {
      verifyNextKeys(parseEnvelopeText(text, "keys document 1"), trusted, 1);
    }
    return "ok";
  } catch (err) {
    return (err as { code?: string }).code ?? `not an EdgeError: ${String(err)}`;
  }
}

const deep = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;

/** The document with the member at `path` ("release.url", "files.0.size") set to `value` (undefined removes it), signed. */
function set(doc: Doc, path: string, value: unknown): () => string {
  return () =>
    signedWith(doc, (v) => {
      const keys = path.split(".");
      const last = keys.pop() as string;
      const parent = keys.reduce((o, k) => o[k] as Json, v);
      if (value === undefined) delete parent[last];
      else parent[last] = value;
    });
}

type Case = [string, Doc, string, () => string];
const cases = (doc: Doc, rows: [string, string, () => string][]): Case[] =>
  rows.map(([name, code, make]) => [`${doc}: ${name}`, doc, code, make]);

const everyDoc = (["pointer", "release", "payload", "keys"] as const).flatMap((doc) => {
  const raw = (edit: (text: string) => string) => () => edit(signedWith(doc));
  return cases(doc, [
    ["as signed", "ok", () => signedWith(doc)],
    [
      "pretty-printed with its keys out of order (the signature covers the content)",
      "ok",
      () => {
        const env = JSON.parse(signedWith(doc)) as Json;
        const reversed = Object.fromEntries(Object.entries(env.signed as Json).reverse());
        return JSON.stringify({ signatures: env.signatures, signed: reversed }, null, 2);
      },
    ],
    ["not JSON", "METADATA_MALFORMED", raw((t) => t.slice(0, -3))],
    ["a byte-order mark before the JSON", "METADATA_MALFORMED", raw((t) => `\uFEFF${t}`)],
    ["a JSON array", "METADATA_MALFORMED", () => "[]"],
    ["a JSON string", "METADATA_MALFORMED", () => '"signed"'],
    ['no "signed" member', "METADATA_MALFORMED", () => '{"signatures":[]}'],
    [
      '"signed" replaced by a number (no longer what was signed)',
      "SIGNATURE_INVALID",
      raw((t) => t.replace(/"signed":\{.*\}\}$/, '"signed":5}')),
    ],
    ["signatures is not a list", "SIGNATURE_MISSING", raw((t) => t.replace(/"signatures":\[[^\]]*\]/, '"signatures":{}'))],
    ["no signatures", "SIGNATURE_MISSING", raw((t) => t.replace(/"signatures":\[[^\]]*\]/, '"signatures":[]'))],
    ["a null signature entry", "METADATA_MALFORMED", raw((t) => t.replace(/"signatures":\[/, '"signatures":[null,'))],
    ["a signature that is not base64", "SIGNATURE_INVALID", raw((t) => t.replace(/"sig":"[^"]*"/, '"sig":"%%%"'))],
    ["signed by an untrusted key", "KEY_UNTRUSTED", () => signedWith(doc, undefined, stranger)],
    ["content changed after signing", "SIGNATURE_INVALID", raw((t) => t.replace('"specVersion":1', '"specVersion":1,"x":1'))],
    ["nested 100 000 levels deep", "METADATA_MALFORMED", raw((t) => t.replace('"signed":{', `"signed":{"x":${deep(100_000)},`))],
    ["nested 65 levels deep", "METADATA_MALFORMED", raw((t) => t.replace('"signed":{', `"signed":{"x":${deep(63)},`))],
    ["a number past the largest double", "METADATA_MALFORMED", raw((t) => t.replace('"specVersion":1', '"specVersion":1e400'))],
    [
      "a number with a large negative exponent (reads as 0: the signature no longer matches)",
      "SIGNATURE_INVALID",
      raw((t) => t.replace('"specVersion":1', '"specVersion":1e-400')),
    ],
    [
      "a key repeated, the signed value last",
      "METADATA_MALFORMED",
      raw((t) => t.replace('"signed":{', '"signed":{"_type":"x",')),
    ],
    [
      "a key repeated through an escape",
      "METADATA_MALFORMED",
      raw((t) => t.replace('"signed":{', '"signed":{"\\u005ftype":"x",')),
    ],
    ["the signatures member repeated", "METADATA_MALFORMED", raw((t) => t.replace(/^\{/, '{"signatures":[],'))],
    ["_type of another document", "METADATA_MALFORMED", set(doc, "_type", "edgepull/nothing")],
    ["specVersion 2", "METADATA_MALFORMED", set(doc, "specVersion", 2)],
    ["specVersion as a string", "METADATA_MALFORMED", set(doc, "specVersion", "1")],
  ]);
});

const pointerCases = cases("pointer", [
  ["sequence as a string", "METADATA_MALFORMED", set("pointer", "sequence", "9")],
  ["sequence 2^53", "METADATA_MALFORMED", set("pointer", "sequence", 2 ** 53)],
  ["sequence 1e400", "METADATA_MALFORMED", () => signedWith("pointer").replace('"sequence":7', '"sequence":1e400')],
  ["sequence -1", "METADATA_MALFORMED", set("pointer", "sequence", -1)],
  ["sequence 7.5", "METADATA_MALFORMED", set("pointer", "sequence", 7.5)],
  ["sequence below the highest seen", "SEQUENCE_REPLAY", set("pointer", "sequence", 4)],
  ["release.size -1", "METADATA_MALFORMED", set("pointer", "release.size", -1)],
  ["release.size 1e308", "METADATA_MALFORMED", set("pointer", "release.size", 1e308)],
  ["release.sha256 in capitals", "METADATA_MALFORMED", set("pointer", "release.sha256", sha("r").toUpperCase())],
  ["release.url climbing out", "METADATA_MALFORMED", set("pointer", "release.url", "../../../etc/passwd")],
  ["release.url absolute", "METADATA_MALFORMED", set("pointer", "release.url", "/etc/passwd")],
  ["release a list", "METADATA_MALFORMED", set("pointer", "release", [])],
  ["version 1.2 (not semver)", "METADATA_MALFORMED", set("pointer", "version", "1.2")],
  ["version v1.2.0", "METADATA_MALFORMED", set("pointer", "version", "v1.2.0")],
  ["version 01.2.0", "METADATA_MALFORMED", set("pointer", "version", "01.2.0")],
  ["version with a NUL", "METADATA_MALFORMED", set("pointer", "version", "1.2.0\0")],
  ["version of 300 characters", "METADATA_MALFORMED", set("pointer", "version", `1.2.0-${"a".repeat(294)}`)],
  ["a name with a Cyrillic e", "METADATA_MALFORMED", set("pointer", "name", "demo-mod\u0435l")],
  ["another model", "NAME_MISMATCH", set("pointer", "name", "other-model")],
  ["another channel", "NAME_MISMATCH", set("pointer", "channel", "canary")],
  ["expiresAt not a time", "METADATA_MALFORMED", set("pointer", "expiresAt", "soon")],
  ["expired", "METADATA_EXPIRED", set("pointer", "expiresAt", "2030-05-31T00:00:00Z")],
  ["rollout percent 101", "METADATA_MALFORMED", set("pointer", "rollout", { percent: 101, paused: false })],
  ["rollout percent as a string", "METADATA_MALFORMED", set("pointer", "rollout", { percent: "50", paused: false })],
  ["rollout null", "METADATA_MALFORMED", set("pointer", "rollout", null)],
  ["an unknown member (ignored)", "ok", set("pointer", "comment", "hello")],
]);

const unsafePaths: [string, string][] = [
  ["../escape", "a '..' segment"],
  ["/etc/passwd", "an absolute path"],
  ["a//b", "an empty segment"],
  ["a\\b", "a backslash"],
  ["C:/x", "a drive letter"],
  ["a\0b", "a NUL"],
  ["a\nb", "a newline"],
  ["a\u0085b", "a C1 control character"],
  ["run\u202Egpj.sh", "a right-to-left override"],
  ["a\u2066b", "a bidi isolate"],
  ["a\uD800b", "a lone surrogate"],
  ["a".repeat(256), "a 256-byte segment"],
  ["\u00e9".repeat(128), "a 256-byte segment in two-byte characters"],
  [`${"a/".repeat(2100)}b`, "4201 characters"],
];
const file0 = files[0] as (typeof files)[number];
const deltas0 = release.deltas?.[0];

const releaseCases = cases("release", [
  ["files empty", "METADATA_MALFORMED", set("release", "files", [])],
  ["files an object", "METADATA_MALFORMED", set("release", "files", {})],
  ["a file entry null", "METADATA_MALFORMED", set("release", "files.0", null)],
  ["a file size -1", "METADATA_MALFORMED", set("release", "files.0.size", -1)],
  ["a file size 2^53", "METADATA_MALFORMED", set("release", "files.0.size", 2 ** 53)],
  ["a file size 1e400", "METADATA_MALFORMED", () => signedWith("release").replace('"size":12', '"size":1e400')],
  ["a file size as a string", "METADATA_MALFORMED", set("release", "files.0.size", "12")],
  ["a file mode setuid", "METADATA_MALFORMED", set("release", "files.0.mode", 0o4755)],
  ["a file mode 0777", "METADATA_MALFORMED", set("release", "files.0.mode", 0o777)],
  ["a file sha256 short", "METADATA_MALFORMED", set("release", "files.0.sha256", "abc")],
  ...unsafePaths.map(([path, what]): [string, string, () => string] => [
    `a file path with ${what}`,
    "METADATA_MALFORMED",
    set("release", "files", [{ ...file0, path }]),
  ]),
  ["a 255-byte segment (the limit)", "ok", set("release", "files", [{ ...file0, path: "a".repeat(255) }])],
  [
    "NFD and NFC forms of one name (distinct files on Linux)",
    "ok",
    set("release", "files", [
      { ...file0, path: "cafe\u0301" },
      { ...file0, path: "caf\u00e9" },
    ]),
  ],
  ["a path listed twice", "METADATA_MALFORMED", set("release", "files", [file0, file0])],
  [
    "a file and a folder of one name",
    "METADATA_MALFORMED",
    set("release", "files", [
      { ...file0, path: "w" },
      { ...file0, path: "w/x" },
    ]),
  ],
  ["files out of order", "METADATA_MALFORMED", set("release", "files", [files[1], file0])],
  ["createdAt missing", "METADATA_MALFORMED", set("release", "createdAt", undefined)],
  ["bundle missing", "METADATA_MALFORMED", set("release", "bundle", undefined)],
  ["bundle.size negative", "METADATA_MALFORMED", set("release", "bundle.size", -5000)],
  ["bundle.url empty", "METADATA_MALFORMED", set("release", "bundle.url", "")],
  ["bundle.url climbing out", "METADATA_MALFORMED", set("release", "bundle.url", "a/../../b")],
  ["deltas an object", "METADATA_MALFORMED", set("release", "deltas", {})],
  ["a delta from its own version", "METADATA_MALFORMED", set("release", "deltas.0.from", "1.2.0")],
  ["a delta from a bad version", "METADATA_MALFORMED", set("release", "deltas.0.from", "latest")],
  ["two deltas from one version", "METADATA_MALFORMED", set("release", "deltas", [deltas0, deltas0])],
  ["compatibility.arch a string", "METADATA_MALFORMED", set("release", "compatibility", { arch: "arm64" })],
  ["compatibility.labels holding a number", "METADATA_MALFORMED", set("release", "compatibility", { labels: [1] })],
  ["another version than the pointer's", "NAME_MISMATCH", set("release", "version", "1.3.0")],
]);

const payloadCases = cases("payload", [
  ["files differ from the release's", "METADATA_MALFORMED", set("payload", "files.0.size", 13)],
  ["another model", "NAME_MISMATCH", set("payload", "name", "other")],
  ["another version", "NAME_MISMATCH", set("payload", "version", "1.2.1")],
  ["a file path with a lone surrogate", "METADATA_MALFORMED", set("payload", "files.0.path", "\uDC00")],
]);

const keyEntry = (publicKey: string) => [{ keyid: signer.publicKey.keyid, publicKey }];
const keysCases = cases("keys", [
  ["version 2 where 1 is expected", "METADATA_MALFORMED", set("keys", "version", 2)],
  ["version 1e400", "METADATA_MALFORMED", () => signedWith("keys").replace('"version":1', '"version":1e400')],
  ["no keys", "METADATA_MALFORMED", set("keys", "keys", [])],
  ["a key without publicKey", "METADATA_MALFORMED", set("keys", "keys", [{ keyid: "ab" }])],
  ["a publicKey that is not PEM", "METADATA_MALFORMED", set("keys", "keys", keyEntry("hello"))],
  [
    "a private key in place of a public one",
    "METADATA_MALFORMED",
    set("keys", "keys", keyEntry(signer.privateKey.key.export({ type: "pkcs8", format: "pem" }).toString())),
  ],
  [
    "an RSA key",
    "METADATA_MALFORMED",
    set(
      "keys",
      "keys",
      keyEntry(generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ type: "spki", format: "pem" }).toString()),
    ),
  ],
  ["a key under another key's id", "METADATA_MALFORMED", set("keys", "keys", keyEntry(publicPem()))],
]);

describe("hostile metadata signed by a trusted key ends in its own code", () => {
  it.each([...everyDoc, ...pointerCases, ...releaseCases, ...payloadCases, ...keysCases])(
    "%s (%s) -> %s",
    (_name, doc, code, make) => {
      expect(judge(doc, make())).toBe(code);
    },
  );
});
