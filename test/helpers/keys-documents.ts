import { KEYS_TYPE, type KeysDocument } from "../../shared/key-chain.js";
import {
  generateSigningKeyPair,
  type PrivateKeyInfo,
  type PublicKeyInfo,
  parsePrivateKey,
  parsePublicKey,
  type SignedEnvelope,
  signEnvelope,
} from "../../shared/signature.js";

/** A publisher key held in memory, with the 16-digit id messages name it by. */
export interface TestKey {
  id: string;
  short: string;
  priv: PrivateKeyInfo;
  pub: PublicKeyInfo;
  pem: string;
}

export function testKey(): TestKey {
  const k = generateSigningKeyPair();
  return {
    id: k.keyid,
    short: k.keyid.slice(0, 16),
    priv: parsePrivateKey(k.privatePem, "k"),
    pub: parsePublicKey(k.publicPem, "k.pub"),
    pem: k.publicPem,
  };
}

/** keys/<version>.json listing `listed`, signed by `signer`. */
export function keysDocument(version: number, listed: TestKey[], signer: TestKey): SignedEnvelope<unknown> {
  const signed: KeysDocument = {
    _type: KEYS_TYPE,
    specVersion: 1,
    version,
    createdAt: "2024-01-01T00:00:00.000Z",
    keys: listed.map((k) => ({ keyid: k.id, publicKey: k.pem })),
  };
  return signEnvelope(signed, [signer.priv]);
}
