import fc from "fast-check";
import { expect } from "vitest";
import { verifyPointerText, verifyReleaseText } from "../../agent/sources/intake.js";
import { checkBundleManifest } from "../../shared/bundle-reader/bundle-manifest.js";
import { canonicalJson } from "../../shared/canonical-json.js";
import { sha256Hex } from "../../shared/digest.js";
import type { ErrorCode } from "../../shared/errors.js";
import { strictJsonProblem } from "../../shared/json-strict.js";
import { verifyNextKeys } from "../../shared/key-chain.js";
import { parseEnvelopeText } from "../../shared/manifest.js";
import { signEnvelope, verifyEnvelope } from "../../shared/signature.js";
import { SAMPLE, sampleDocuments } from "../helpers/metadata-craft.js";
import { newSigner } from "../helpers/tar-craft.js";
import {
  acceptsOrRefuses,
  applyDamage,
  type Damage,
  damageArbitrary,
  defineTarget,
  type FuzzTarget,
  hostileJsonValue,
  memberPaths,
  withMember,
} from "./fuzz.js";

/**
 * Fuzz targets for every parser of signed metadata: canonical JSON, the
 * envelope, channel pointers, release and bundle manifests, keys documents.
 * The documents are signed by a trusted key after each edit, so the schema
 * checks behind the signature are what gets exercised.
 */
const signer = newSigner();
const trusted = [signer.publicKey];
const NOW = new Date("2030-06-01T00:00:00Z");
const sha = (s: string) => sha256Hex(s);
const { files, release, pointer, payload, keys: keysDoc } = sampleDocuments(signer);
const { name: NAME, channel: CHANNEL, version: VERSION } = SAMPLE;

const ENVELOPE_CODES: ErrorCode[] = ["METADATA_MALFORMED", "SIGNATURE_MISSING", "SIGNATURE_INVALID", "KEY_UNTRUSTED"];
const POINTER_CODES: ErrorCode[] = [...ENVELOPE_CODES, "NAME_MISMATCH", "METADATA_EXPIRED", "SEQUENCE_REPLAY"];
const RELEASE_CODES: ErrorCode[] = [...ENVELOPE_CODES, "NAME_MISMATCH", "DIGEST_MISMATCH"];

/** A valid document, its members edited, signed by the trusted key, then its text damaged. */
interface DocEdit {
  edits: [number, unknown][];
  /** Members canonical JSON never writes, inserted after the n-th '{' of the signed text. */
  inserts: [number, string][];
  damage: Damage | null;
}

const RAW_MEMBERS = [
  '"x":1e400,',
  '"x":-1e999,',
  `"x":${"[".repeat(70)}${"]".repeat(70)},`,
  `"x":${"[".repeat(20_000)}${"]".repeat(20_000)},`,
  '"_type":"edgepull/other",',
  '"version":"9.9.9",',
  '"\\u0073ignatures":[],',
  '"signed":{},',
];

function docEdits(): fc.Arbitrary<DocEdit> {
  return fc.record({
    edits: fc.array(fc.tuple(fc.nat(), fc.oneof(hostileJsonValue(), fc.constant(undefined))), { maxLength: 3 }),
    inserts: fc.array(fc.tuple(fc.nat(), fc.constantFrom(...RAW_MEMBERS)), { maxLength: 2 }),
    damage: fc.option(damageArbitrary(3), { nil: null }),
  });
}

function editedText(base: object, input: DocEdit): string {
  const paths = memberPaths(base);
  let value: object = base;
  for (const [at, replacement] of input.edits) value = withMember(value, paths[at % paths.length] as string, replacement);
  let text = canonicalJson(signEnvelope(value, [signer.privateKey]));
  for (const [n, member] of input.inserts) {
    const braces = [...text.matchAll(/\{(?=")/g)].map((m) => m.index);
    const at = (braces[n % braces.length] as number) + 1;
    text = `${text.slice(0, at)}${member}${text.slice(at)}`;
  }
  return input.damage ? applyDamage(Buffer.from(text), input.damage).toString("utf8") : text;
}

const docTarget = (name: string, base: object, allowed: ErrorCode[], judge: (text: string) => unknown) =>
  defineTarget<DocEdit>({
    name,
    arbitrary: docEdits,
    quickRuns: 150,
    check: async (input) => {
      await acceptsOrRefuses(() => judge(editedText(base, input)), allowed);
    },
  });

/** Text shaped like JSON, built from the tokens that trip parsers: repeated keys, escapes, huge numbers, deep nesting. */
function jsonish(): fc.Arbitrary<string> {
  const token = fc.constantFrom(
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    '"a"',
    '"\\u0061"',
    '"\\ud800"',
    "1e400",
    "-0",
    "1",
    " ",
    "null",
    '"',
  );
  return fc.oneof(
    fc.json({ maxDepth: 4 }),
    fc.array(token, { maxLength: 40 }).map((t) => t.join("")),
    fc.nat({ max: 300 }).map((n) => `{"signed":${"[".repeat(n)}${"]".repeat(n)},"signatures":[]}`),
  );
}

export const metadataTargets: FuzzTarget<unknown>[] = [
  defineTarget<unknown>({
    name: "canonical-json-round-trip",
    arbitrary: () => fc.jsonValue(),
    quickRuns: 300,
    check: (value: unknown) => {
      const text = canonicalJson(value);
      expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
      expect(canonicalJson(JSON.parse(text))).toBe(text);
      expect(strictJsonProblem(text)).toBeUndefined();
    },
  }),
  defineTarget<string>({
    name: "strict-json-scan",
    arbitrary: jsonish,
    quickRuns: 300,
    check: (text: string) => {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        return;
      }
      // Whatever the scan lets through, canonical JSON (and so signature checking) can encode.
      if (strictJsonProblem(text) === undefined) canonicalJson(value);
    },
  }),
  defineTarget<string>({
    name: "signature-envelope",
    arbitrary: () => fc.oneof(jsonish(), fc.string({ unit: "binary", maxLength: 200 })),
    quickRuns: 300,
    check: async (text: string) => {
      await acceptsOrRefuses(() => verifyEnvelope(parseEnvelopeText(text, "fuzzed"), trusted, "fuzzed"), ENVELOPE_CODES);
    },
  }),
  docTarget("channel-pointer", pointer, POINTER_CODES, (text) =>
    verifyPointerText(text, { trustedKeys: trusted, name: NAME, channel: CHANNEL, now: NOW, highestSequence: 5 }),
  ),
  docTarget("release-manifest", release, RELEASE_CODES, (text) =>
    verifyReleaseText(text, { ...pointer, release: { url: "r", size: Buffer.byteLength(text), sha256: sha(text) } }, trusted),
  ),
  docTarget("bundle-manifest", payload, RELEASE_CODES, (text) =>
    checkBundleManifest(text, { name: NAME, version: VERSION, files }, trusted),
  ),
  docTarget("keys-document", keysDoc, ENVELOPE_CODES, (text) => verifyNextKeys(parseEnvelopeText(text, "keys 1"), trusted, 1)),
];
