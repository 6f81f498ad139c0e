import type { AttemptRow, NewAttempt } from "../../agent/state/store.js";

/** A journal row of an update from 1.0.0 to 2.0.0 in `downloading`, with `patch` applied. */
export const attemptRow = (patch: Partial<AttemptRow>): AttemptRow => ({
  id: 7,
  kind: "update",
  source: "mqtt",
  fromVersion: "1.0.0",
  toVersion: "2.0.0",
  releaseJson: null,
  releaseDigest: null,
  phase: "downloading",
  result: null,
  errorCode: null,
  errorMessage: null,
  rollbackErrorCode: null,
  rollbackErrorMessage: null,
  bytesDownloaded: 1234,
  delivery: null,
  deltaFrom: null,
  deltaFallbackCode: null,
  deltaFallbackMessage: null,
  bytesSaved: 0,
  handover: null,
  handoverReason: null,
  handoverDetail: null,
  startedAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
  finishedAt: null,
  ...patch,
});

/** The journal entry that begins an update from 1.0.0 to 2.0.0 found by polling. */
export const newUpdateAttempt: NewAttempt = {
  kind: "update",
  source: "poll",
  fromVersion: "1.0.0",
  toVersion: "2.0.0",
  releaseJson: "{}",
  releaseDigest: "d",
  phase: "downloading",
};
