import { sha256Hex } from "../../shared/digest.js";
import { KEYS_TYPE, type KeysDocument } from "../../shared/key-chain.js";
import {
  CHANNEL_TYPE,
  type ChannelPointer,
  PAYLOAD_TYPE,
  type PayloadFile,
  type PayloadManifest,
  RELEASE_TYPE,
  type ReleaseManifest,
} from "../../shared/manifest.js";
import type { Signer } from "./tar-craft.js";

/**
 * One valid document of each signed kind (content only, unsigned), for tests
 * that edit them into hostile ones: model `demo-model` 1.2.0 on `stable`,
 * created 2030-05-01, the pointer valid until 2030-07-01 with sequence 7.
 */
export const SAMPLE = { name: "demo-model", channel: "stable", version: "1.2.0" } as const;

export interface SampleDocuments {
  files: PayloadFile[];
  release: ReleaseManifest;
  pointer: ChannelPointer;
  payload: PayloadManifest;
  keys: KeysDocument;
}

export function sampleDocuments(signer: Signer): SampleDocuments {
  const { name, channel, version } = SAMPLE;
  const files: PayloadFile[] = [
    { path: "config.json", size: 12, sha256: sha256Hex("config"), mode: 0o644 },
    { path: "weights/model.bin", size: 4096, sha256: sha256Hex("weights"), mode: 0o755 },
  ];
  const dir = `releases/${name}/${version}`;
  return {
    files,
    release: {
      _type: RELEASE_TYPE,
      specVersion: 1,
      name,
      version,
      createdAt: "2030-05-01T00:00:00Z",
      files,
      compatibility: { arch: ["arm64"], labels: ["camera"] },
      bundle: { url: `${dir}/${name}-${version}.tar.gz`, size: 5000, sha256: sha256Hex("bundle") },
      deltas: [{ from: "1.1.0", url: `${dir}/deltas/1.1.0.epdelta`, size: 100, sha256: sha256Hex("delta") }],
    },
    pointer: {
      _type: CHANNEL_TYPE,
      specVersion: 1,
      name,
      channel,
      version,
      sequence: 7,
      createdAt: "2030-05-01T00:00:00Z",
      expiresAt: "2030-07-01T00:00:00Z",
      release: { url: `${dir}/release.json`, size: 1000, sha256: sha256Hex("release") },
      rollout: { percent: 50, paused: false },
    },
    payload: { _type: PAYLOAD_TYPE, specVersion: 1, name, version, files },
    keys: {
      _type: KEYS_TYPE,
      specVersion: 1,
      version: 1,
      createdAt: "2030-05-01T00:00:00Z",
      keys: [
        { keyid: signer.publicKey.keyid, publicKey: signer.publicKey.key.export({ type: "spki", format: "pem" }).toString() },
      ],
    },
  };
}
