import { integer, list, optionalInteger, optionalSection, text } from "./schema-kit.js";

const TIB_IN_MIB = 1024 * 1024;

/**
 * `validate`: the operator's own check of a staged version, run before
 * anything stops the serving one (agent/update/steps/validate.ts).
 */
export const validateSection = optionalSection(
  {
    command: list(text({ doc: "" }), {
      nonEmpty: true,
      must: "a non-empty list of strings (program and arguments)",
      type: "list of strings",
      doc: "program and arguments, run without a shell in the staged version's folder with `EDGEPULL_MODEL_DIR` (the staged version) and `EDGEPULL_ACTIVE_DIR` (the serving version; absent on a first install); exit 0 passes",
    }),
    timeoutSeconds: integer({
      default: 120,
      min: 1,
      max: 24 * 3600,
      doc: "a validator still running after this long is stopped (SIGTERM to its process group, SIGKILL 5 s later) and the attempt fails (`VALIDATION_FAILED`)",
    }),
    memoryMaxMiB: optionalInteger({
      min: 16,
      max: TIB_IN_MIB,
      doc: "memory cap, enforced with `systemd-run --scope -p MemoryMax=` where cgroups v2 and systemd allow it (logged once when they do not); a validator killed by it fails the attempt",
    }),
  },
  {
    doc: 'with a `validate` section every update runs `command` on the staged version (phase `validating`, after staging, before activation); a failure ends the attempt with `VALIDATION_FAILED` and the serving version is never stopped (see "Validation before activation")',
  },
);
