import { escapeLabelValue } from "../../shared/prometheus-text.js";
import type { StatusSnapshot } from "./status-snapshot.js";
import type { VersionHealth } from "./version-health.js";

/**
 * One journaled attempt, or (with `count`) a group of attempts that share kind
 * and result, their bytes summed: the scrape path reads aggregates so a long
 * journal costs one small query, while tests can pass rows one by one.
 */
export interface MetricsAttempt {
  result: string | null;
  kind: string;
  bytesDownloaded: number;
  /** Bytes a delta avoided downloading (bundle size minus delta size); absent means 0. */
  bytesSaved?: number;
  /** How many attempts this entry stands for (default 1). */
  count?: number;
}

export interface MetricsInput {
  status: StatusSnapshot;
  attempts: MetricsAttempt[];
  agentVersion: string;
  /** Hand-over mode: how each update's version took over, counted (state/metrics-queries.ts handoverTotals). */
  handovers?: { outcome: string; reason: string | null; count: number }[];
  /** Families appended as they are (the hand-over proxy's per-version counters). */
  extraText?: string;
}

/** Every result an attempt can end with; all are emitted (at 0 too) so rate() works from the first failure. */
export const UPDATE_RESULTS = ["succeeded", "rolled_back", "failed", "superseded"] as const;

/** The phases the gauge always carries: `idle` plus every phase an open attempt can be in. */
export const KNOWN_PHASES = [
  "idle",
  "downloading",
  "staging",
  "validating",
  "activating",
  "starting",
  "probation",
  "rolling_back",
] as const;

type Labels = Record<string, string>;

interface Family {
  name: string;
  type: "counter" | "gauge";
  help: string;
  samples: { labels?: Labels; value: number }[];
}

/**
 * The device's metrics in the Prometheus text exposition format 0.0.4. Pure:
 * the caller gathers the snapshot and the journal's attempts.
 */
export function renderMetrics(input: MetricsInput): string {
  const { status, attempts } = input;
  const updates = new Map<string, number>(UPDATE_RESULTS.map((r) => [r, 0]));
  let automatic = 0;
  let manual = 0;
  let downloaded = 0;
  let saved = 0;
  for (const a of attempts) {
    const n = a.count ?? 1;
    downloaded += a.bytesDownloaded;
    saved += a.bytesSaved ?? 0;
    if (a.result === null) continue;
    if (a.kind === "update") updates.set(a.result, (updates.get(a.result) ?? 0) + n);
    // A rolled-back attempt of either kind means the agent put the old version back on its own.
    if (a.result === "rolled_back") automatic += n;
    // An operator's rollback counts once it took effect; a failed one left the device where it was.
    if (a.kind === "rollback" && a.result === "succeeded") manual += n;
  }

  const phases = new Set<string>(KNOWN_PHASES);
  phases.add(status.phase); // an unexpected phase still shows, rather than every gauge reading 0

  const families: Family[] = [
    {
      name: "edgepull_updates_total",
      type: "counter",
      help: "Finished update attempts by result.",
      samples: [...updates].map(([result, value]) => ({ labels: { result }, value })),
    },
    {
      name: "edgepull_rollbacks_total",
      type: "counter",
      help: "Rollbacks: automatic (the agent restored the previous version after a failed activation) or manual (an operator's rollback that took effect).",
      samples: [
        { labels: { kind: "automatic" }, value: automatic },
        { labels: { kind: "manual" }, value: manual },
      ],
    },
    {
      name: "edgepull_downloaded_bytes_total",
      type: "counter",
      help: "Bytes downloaded by all attempts, including the one in progress.",
      samples: [{ value: downloaded }],
    },
    {
      name: "edgepull_delta_saved_bytes_total",
      type: "counter",
      help: "Bytes not downloaded because a delta was used instead of the full bundle.",
      samples: [{ value: saved }],
    },
    {
      name: "edgepull_phase",
      type: "gauge",
      help: "1 for the phase the agent is in, 0 for the others.",
      samples: [...phases].map((phase) => ({ labels: { phase }, value: phase === status.phase ? 1 : 0 })),
    },
    {
      name: "edgepull_active_version_info",
      type: "gauge",
      help: "The active model version (absent while nothing is installed).",
      samples:
        status.activeVersion === null
          ? []
          : [
              {
                labels: {
                  version: status.activeVersion,
                  previous: status.previousVersion ?? "",
                  name: status.name,
                  channel: status.channel,
                },
                value: 1,
              },
            ],
    },
    {
      name: "edgepull_active_version_withdrawn",
      type: "gauge",
      help: "1 while the active version is on the publisher's withdrawal list (status WITHDRAWN), else 0.",
      samples: [{ value: status.withdrawn ? 1 : 0 }],
    },
    {
      name: "edgepull_last_check_timestamp_seconds",
      type: "gauge",
      help: "When the agent last checked its channel, in seconds since the Unix epoch (absent before the first check).",
      samples: timestampSamples(status.lastCheck?.at),
    },
    {
      name: "edgepull_service_ready",
      type: "gauge",
      help: "1 if the service answered its readiness probe with 2xx.",
      samples: [{ value: status.health.ok ? 1 : 0 }],
    },
    {
      name: "edgepull_healthy",
      type: "gauge",
      help: "1 if edge-agent status finds no problem.",
      samples: [{ value: status.healthy ? 1 : 0 }],
    },
    {
      name: "edgepull_denied_versions",
      type: "gauge",
      help: "Versions on the deny-list.",
      samples: [{ value: status.denied.length }],
    },
    {
      name: "edgepull_free_disk_bytes",
      type: "gauge",
      help: "Free bytes on the filesystem holding the data folder (absent if it cannot be read).",
      samples: status.disk.availableBytes === undefined ? [] : [{ value: status.disk.availableBytes }],
    },
    ...versionHealthFamilies(status),
    ...(input.handovers && input.handovers.length > 0
      ? [
          {
            name: "edgepull_handovers_total",
            type: "counter" as const,
            help: "Hand-over mode: how each version took over (switched: beside the serving one; skipped: restarted in place, reason MEMORY_LOW or MEMORY_PRESSURE; cold: nothing served before).",
            samples: input.handovers.map((h) => ({ labels: { outcome: h.outcome, reason: h.reason ?? "" }, value: h.count })),
          },
        ]
      : []),
    {
      name: "edgepull_agent_info",
      type: "gauge",
      help: "The agent's version.",
      samples: [{ labels: { version: input.agentVersion }, value: 1 }],
    },
  ];
  return families.map(renderFamily).join("") + (input.extraText ?? "");
}

/**
 * Per version, the serving time the daemon counted and the rollbacks from it
 * (README "Healthy device-hours"). Left out for a snapshot without the field,
 * which readStatus always sets.
 */
function versionHealthFamilies(status: StatusSnapshot): Family[] {
  const list = status.versionHealth;
  if (list === undefined) return [];
  const per = (value: (v: VersionHealth) => number): Family["samples"] =>
    list.map((v) => ({ labels: { version: v.version }, value: value(v) }));
  return [
    {
      name: "edgepull_version_healthy_seconds_total",
      type: "counter",
      help: "Seconds the daemon watched each version serving with every readiness probe answering ready.",
      samples: per((v) => v.healthySeconds),
    },
    {
      name: "edgepull_version_unhealthy_seconds_total",
      type: "counter",
      help: "Seconds the daemon watched each version serving with a readiness probe failing or the service crashed.",
      samples: per((v) => v.unhealthySeconds),
    },
    {
      name: "edgepull_version_rollbacks_total",
      type: "counter",
      help: "Times the device left each version because it failed: automatic rollbacks and operator rollbacks from it.",
      samples: per((v) => v.rollbacks),
    },
  ];
}

function timestampSamples(iso: string | undefined): Family["samples"] {
  if (iso === undefined) return [];
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? [] : [{ value: ms / 1000 }];
}

function renderFamily(f: Family): string {
  let out = `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
  for (const s of f.samples) out += `${f.name}${renderLabels(s.labels)} ${formatValue(s.value)}\n`;
  return out;
}

function renderLabels(labels: Labels | undefined): string {
  if (!labels) return "";
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/** Label values escape backslash, double quote and line feed (format 0.0.4). */

/** HELP text escapes only backslash and line feed. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(v);
}
