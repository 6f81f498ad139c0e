import type { MqttSettings } from "../../shared/mqtt-options.js";
import { DEFAULT_WARN_DAYS } from "../rollout/pointer-expiry.js";
import { pointerRows } from "./fleet-pointers.js";
import { fleetSnapshot } from "./fleet-state.js";
import { renderFleetTable } from "./fleet-table.js";
import { openFleetWatch } from "./fleet-watch.js";
import { withdrawalRows } from "./fleet-withdrawals.js";

export const DEFAULT_FLEET_WAIT_MS = 2000;
/** Coalesces terminal redraws: a reconnect replays every retained status at once. */
const TTY_REDRAW_MS = 100;
const CLEAR_SCREEN = "\u001b[2J\u001b[H";

export interface FleetCommandOptions {
  settings: MqttSettings;
  json: boolean;
  watch: boolean;
  waitMs: number;
  /** Warn about retained channel pointers and withdrawal lists expiring within this many days (default 7). */
  warnDays?: number;
  /** Clock for the expiry warnings. */
  now?: () => Date;
  /** stdout is a terminal: --watch redraws in place. */
  isTty: boolean;
  out: (text: string) => void;
  warn: (text: string) => void;
  /** Ends --watch (SIGINT). */
  stopRequested: Promise<void>;
}

/** `edge-publish fleet`: the fleet once, or (--watch) redrawn on every change until stopped. */
export async function runFleetCommand(opts: FleetCommandOptions): Promise<number> {
  let drawing = false;
  let redrawTimer: NodeJS.Timeout | undefined;
  const watch = await openFleetWatch({
    settings: opts.settings,
    maxWaitMs: opts.waitMs,
    reconnect: opts.watch,
    onWarning: (text) => opts.warn(`edge-publish: warning: ${text}\n`),
    onChange: () => {
      if (!drawing) return;
      if (opts.json || !opts.isTty) return draw();
      redrawTimer ??= setTimeout(() => {
        redrawTimer = undefined;
        draw();
      }, TTY_REDRAW_MS);
    },
  });
  const draw = (): void => {
    const snapshot = fleetSnapshot(watch.fleet);
    const now = (opts.now ?? (() => new Date()))();
    const warnDays = opts.warnDays ?? DEFAULT_WARN_DAYS;
    const channels = pointerRows(watch.pointers, now, warnDays);
    const lists = withdrawalRows(watch.withdrawals, now, warnDays);
    const warnings = [...channels.warnings, ...lists.warnings];
    const text = renderFleetTable(snapshot) + warnings.map((w) => `${w}\n`).join("");
    if (opts.json) {
      opts.out(
        `${JSON.stringify({ ...snapshot, pointers: channels.pointers, withdrawalLists: lists.withdrawalLists, warnings })}\n`,
      );
    } else if (opts.watch && opts.isTty) opts.out(`${CLEAR_SCREEN}${text}`);
    else opts.out(`${drawing ? "\n" : ""}${text}`);
  };
  try {
    await watch.settled;
    draw();
    if (!opts.watch) return 0;
    drawing = true;
    await opts.stopRequested;
    return 0;
  } finally {
    clearTimeout(redrawTimer);
    await watch.close();
  }
}
