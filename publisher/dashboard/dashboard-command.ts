import { isEdgeError } from "../../shared/errors.js";
import type { MqttSettings } from "../../shared/mqtt-options.js";
import { listChannels } from "../commands/channels.js";
import { openFleetWatch } from "../fleet/fleet-watch.js";
import type { DashboardListen } from "./dashboard-options.js";
import { startDashboardServer } from "./dashboard-server.js";
import { DashboardState } from "./dashboard-state.js";
import { EventStreams } from "./event-stream.js";
import { loadStaticFiles } from "./static-files.js";

/** Changes are sent at most this often: a reconnect replays every retained status at once. */
export const UPDATE_INTERVAL_MS = 300;
/** The repository's pointers are read again this often (a rollout changed without --mqtt reaches no broker). */
export const POINTER_RELOAD_MS = 2000;

export interface DashboardOptions {
  settings: MqttSettings;
  repoDir: string;
  listen: DashboardListen;
  onWarning: (text: string) => void;
  updateIntervalMs?: number;
  pointerReloadMs?: number;
}

export interface RunningDashboard {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Subscribes to the fleet, reads the repository's channels, and serves the page until stopped. */
export async function startDashboard(opts: DashboardOptions): Promise<RunningDashboard> {
  const files = await loadStaticFiles();
  const state = new DashboardState();
  const streams = new EventStreams();
  const updateMs = opts.updateIntervalMs ?? UPDATE_INTERVAL_MS;
  let flushTimer: NodeJS.Timeout | undefined;
  const flushSoon = (): void => {
    flushTimer ??= setTimeout(() => {
      flushTimer = undefined;
      const update = state.flush();
      if (update) streams.broadcast("update", update);
    }, updateMs);
  };

  let reloading: Promise<void> | undefined;
  const reloadPointers = (): Promise<void> => {
    reloading ??= listChannels({ repoDir: opts.repoDir })
      .then((r) => {
        state.setPointers(
          r.channels,
          r.problems.map((p) => `${p.path}: ${p.error}`),
        );
        if (state.pending) flushSoon();
      })
      .catch((err: unknown) =>
        opts.onWarning(`cannot read the channels of ${opts.repoDir}: ${isEdgeError(err) ? err.message : String(err)}`),
      )
      .finally(() => {
        reloading = undefined;
      });
    return reloading;
  };

  await reloadPointers();
  const watch = await openFleetWatch({
    settings: opts.settings,
    fleet: state.fleet,
    maxWaitMs: 2000,
    reconnect: true,
    onWarning: opts.onWarning,
    onChange: (outcome, _topic, payload) => {
      state.apply(outcome, payload);
      // A pointer pushed to the broker: the repository has the rollout share it carries.
      if (outcome.kind === "pointer") void reloadPointers();
      flushSoon();
    },
  });
  const reloadTimer = setInterval(() => void reloadPointers(), opts.pointerReloadMs ?? POINTER_RELOAD_MS);
  let server: Awaited<ReturnType<typeof startDashboardServer>>;
  try {
    server = await startDashboardServer({ listen: opts.listen, state, streams, files });
  } catch (err) {
    clearInterval(reloadTimer);
    await watch.close();
    throw err;
  }
  return {
    url: server.url,
    port: server.port,
    stop: async () => {
      clearInterval(reloadTimer);
      clearTimeout(flushTimer);
      await server.close();
      await watch.close();
      await reloading;
    },
  };
}
