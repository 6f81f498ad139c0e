import { join } from "node:path";
import semver from "semver";
import { isEdgeError } from "../../shared/errors.js";
import { nameProblem, versionProblem } from "../../shared/manifest.js";
import { withdrawalListPath } from "../../shared/repo-layout.js";
import { type WithdrawalAction, type WithdrawalList, withdrawalOf } from "../../shared/withdrawals.js";
import { formatRollout, listChannels, listDir } from "../commands/channels.js";
import { readRelease } from "../repo-files.js";
import { textTable } from "../text-table.js";
import { readWithdrawals } from "../withdraw/withdrawal-file.js";

/** What `edge-publish releases` lists (schemas/releases.json is its JSON shape). */
export interface ReleaseRow {
  name: string;
  version: string;
  createdAt: string;
  files: number;
  payloadBytes: number;
  bundle: { url: string; size: number; sha256: string };
  deltas: { from: string; size: number }[];
  /** Channels whose pointer names this release right now, with their rollout share. */
  channels: { channel: string; sequence: number; percent: number; paused: boolean }[];
  /** From withdrawals/NAME.json (edge-publish withdraw); null when the release is not withdrawn. */
  withdrawn: { reason: string; withdrawnAt: string; action: WithdrawalAction } | null;
}

export interface ReleasesResult {
  releases: ReleaseRow[];
  /** Release manifests, pointers and withdrawal lists that could not be read, each with its one-line reason. */
  problems: { path: string; error: string }[];
}

function problemOf(path: string, err: unknown): { path: string; error: string } {
  return { path, error: isEdgeError(err) ? `${err.code}: ${err.message}` : String(err) };
}

/** Every built release under releases/ (of one name when given), by name and then version, oldest first. */
export async function listReleases(opts: { repoDir: string; name?: string }): Promise<ReleasesResult> {
  const { repoDir } = opts;
  const pointers = await listChannels({ repoDir, name: opts.name });
  const result: ReleasesResult = { releases: [], problems: [...pointers.problems] };
  const names = opts.name !== undefined ? [opts.name] : await listDir(join(repoDir, "releases"));
  for (const name of names.filter((n) => !nameProblem(n))) {
    const withdrawals = await readWithdrawals(repoDir, name).catch((err: unknown) => {
      result.problems.push(problemOf(join(repoDir, withdrawalListPath(name)), err));
      return undefined;
    });
    const versions = (await listDir(join(repoDir, "releases", name))).filter((v) => !versionProblem(v)).sort(semver.compare);
    for (const version of versions) {
      try {
        const doc = await readRelease(repoDir, name, version);
        if (!doc) continue;
        const r = doc.value;
        result.releases.push({
          name,
          version,
          createdAt: r.createdAt,
          files: r.files.length,
          payloadBytes: r.files.reduce((sum, f) => sum + f.size, 0),
          bundle: { url: r.bundle.url, size: r.bundle.size, sha256: r.bundle.sha256 },
          deltas: (r.deltas ?? []).map((d) => ({ from: d.from, size: d.size })),
          channels: pointers.channels
            .filter((c) => c.name === name && c.version === version)
            .map((c) => ({ channel: c.channel, sequence: c.sequence, ...c.rollout })),
          withdrawn: withdrawnOf(withdrawals?.list, version),
        });
      } catch (err) {
        result.problems.push(problemOf(join(repoDir, "releases", name, version, "release.json"), err));
      }
    }
  }
  return result;
}

function withdrawnOf(list: WithdrawalList | undefined, version: string): ReleaseRow["withdrawn"] {
  const entry = withdrawalOf(list, version);
  return entry ? { reason: entry.reason, withdrawnAt: entry.withdrawnAt, action: entry.action } : null;
}

export function releasesTable(rows: ReleaseRow[]): string {
  const header = ["NAME", "VERSION", "CREATED", "FILES", "BUNDLE", "DELTAS FROM", "CHANNELS", "WITHDRAWN"];
  const cells = rows.map((r) => [
    r.name,
    r.version,
    r.createdAt.slice(0, 19).replace("T", " "),
    String(r.files),
    String(r.bundle.size),
    r.deltas.map((d) => `${d.from} (${d.size})`).join(", ") || "-",
    r.channels.map((c) => `${c.channel} ${formatRollout(c)}`).join(", ") || "-",
    r.withdrawn ? `${r.withdrawn.withdrawnAt.slice(0, 10)}: ${r.withdrawn.reason}` : "-",
  ]);
  return textTable(header, cells);
}
