import type { ChannelRollout } from "./rollout-progress.js";

/** One sample of a channel's rollout, for the chart. `t` is Unix seconds (what uPlot's time axis takes). */
export interface RolloutPoint {
  t: number;
  version: string;
  percent: number;
  updated: number;
  failed: number;
  pending: number;
}

/** Per channel; past this the oldest points go, so a dashboard left open for weeks stays small. */
export const MAX_POINTS_PER_CHANNEL = 2000;

export function channelKey(c: { name: string; channel: string }): string {
  return `${c.name}/${c.channel}`;
}

/**
 * Every channel's rollout over time, in memory. A point is added only when a
 * count, the share or the version changed, so an idle fleet adds nothing.
 */
export class RolloutSeries {
  private readonly byChannel = new Map<string, RolloutPoint[]>();

  constructor(private readonly maxPoints = MAX_POINTS_PER_CHANNEL) {}

  /** Records what changed; returns the new points by channel key. */
  record(rollouts: readonly ChannelRollout[], at: Date): Record<string, RolloutPoint> {
    const added: Record<string, RolloutPoint> = {};
    const t = at.getTime() / 1000;
    for (const r of rollouts) {
      const key = channelKey(r);
      const points = this.byChannel.get(key) ?? [];
      const last = points.at(-1);
      const point: RolloutPoint = {
        t,
        version: r.version,
        percent: r.rollout.percent,
        updated: r.updated,
        failed: r.failed,
        pending: r.pending,
      };
      if (
        last &&
        last.version === point.version &&
        last.percent === point.percent &&
        last.updated === point.updated &&
        last.failed === point.failed &&
        last.pending === point.pending
      ) {
        continue;
      }
      points.push(point);
      if (points.length > this.maxPoints) points.splice(0, points.length - this.maxPoints);
      this.byChannel.set(key, points);
      added[key] = point;
    }
    return added;
  }

  all(): Record<string, RolloutPoint[]> {
    return Object.fromEntries([...this.byChannel.entries()].map(([k, v]) => [k, [...v]]));
  }
}
