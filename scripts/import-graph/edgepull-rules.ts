import type { ImportRules, KnownViolation, Layer, Zone } from "./rules.js";

/**
 * Which part of the repository may import which (DESIGN: `shared/` imports
 * neither side; `agent/` and `publisher/` never import each other). The
 * drivers (demo, benchmarks, scripts) sit on top and may use every part.
 */
const DRIVER_IMPORTS = ["shared", "agent", "publisher", "example-service"];
export const ZONES: readonly Zone[] = [
  { name: "shared", prefix: "shared/", mayImport: ["shared"] },
  { name: "agent", prefix: "agent/", mayImport: ["agent", "shared"] },
  { name: "publisher", prefix: "publisher/", mayImport: ["publisher", "shared"] },
  // Stands for the operator's own inference service: it uses nothing of edgepull.
  { name: "example-service", prefix: "packaging/example-service/", mayImport: ["example-service"] },
  { name: "demo", prefix: "demo/", mayImport: ["demo", ...DRIVER_IMPORTS] },
  { name: "bench", prefix: "bench/", mayImport: ["bench", ...DRIVER_IMPORTS] },
  { name: "scripts", prefix: "scripts/", mayImport: ["scripts", ...DRIVER_IMPORTS] },
  // Tests may check the benchmarks' own tools (the fleet simulator) against the real contract.
  { name: "test", prefix: "test/", mayImport: ["test", "bench", ...DRIVER_IMPORTS] },
];

/**
 * The agent's layers, lowest first: a file imports its own rank or lower.
 * Pure decisions in the middle, effects at the edges behind small interfaces,
 * one composition root (DESIGN, Architecture).
 */
export const AGENT_LAYERS: readonly Layer[] = [
  {
    rank: 0,
    paths: ["agent/logging.ts", "agent/config.ts", "agent/config/", "agent/trusted-keys.ts", "agent/linked-signal.ts"],
    role: "foundations: parsed config, logger, trusted keys, abort signals that let go of their sources",
  },
  { rank: 1, paths: ["agent/state/"], role: "the journal, the only SQL" },
  {
    rank: 2,
    paths: [
      "agent/ports.ts",
      "agent/bundle/",
      "agent/delta/",
      "agent/install/",
      "agent/service/",
      "agent/proxy/",
      "agent/control/",
      "agent/mqtt-link.ts",
    ],
    role: "effects and the core's ports: bundles, deltas, version folders, the service, the traffic proxy, the control socket, the MQTT link",
  },
  { rank: 3, paths: ["agent/sources/", "agent/poll-loop.ts"], role: "sources: poll, MQTT, inbox, sideload, intake" },
  { rank: 4, paths: ["agent/update/", "agent/attempt-slot.ts"], role: "the update core" },
  { rank: 5, paths: ["agent/telemetry/"], role: "telemetry: status, reporter, probes" },
  {
    rank: 6,
    paths: ["agent/agent.ts", "agent/wiring/", "agent/dry-run/"],
    role: "the daemon's wiring, and the dry runs wired beside it",
  },
  { rank: 7, paths: ["agent/cli/"], role: "the technician's commands" },
  { rank: 8, paths: ["agent/main.ts"], role: "the entry point" },
];

/**
 * KNOWN VIOLATIONS: imports the rules forbid that remain until the named
 * work lands. Each entry must still match an import (the check fails on a
 * stale one), so this table only shrinks. Add nothing here without an issue.
 */
export const KNOWN_VIOLATIONS: readonly KnownViolation[] = [];

export const EDGEPULL_RULES: ImportRules = {
  zones: ZONES,
  layeredZone: "agent",
  layers: AGENT_LAYERS,
  known: KNOWN_VIOLATIONS,
};

/** The folders whose TypeScript sources the check reads. */
export const CHECKED_ROOTS = ["shared", "agent", "publisher", "demo", "bench", "packaging/example-service", "scripts"];
