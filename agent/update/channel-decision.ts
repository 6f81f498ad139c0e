import type { AgentConfig } from "../config.js";
import { readCurrentVersion } from "../install/activate.js";
import type { Layout } from "../install/layout.js";
import type { Clock } from "../ports.js";
import type { ChannelChecker, ChannelState } from "../sources/channel-check.js";
import type { VerifiedRelease } from "../sources/intake.js";
import type { WithdrawalTracker } from "../sources/withdrawal-tracker.js";
import type { StateStore } from "../state/store.js";
import { type CheckDecision, decideCheck } from "./check-decision.js";

/** Failed pre-activation attempts at one version are retried after 1 min, 2 min, ... up to 6 h. */
const RETRY_BASE_MS = 60_000;
const RETRY_CAP_MS = 6 * 3600_000;

/** What a channel check reads: the daemon's graph, or a dry run's copy of it. */
export interface ChannelDecisionDeps {
  config: AgentConfig;
  layout: Layout;
  clock: Clock;
  store: StateStore;
  checker: ChannelChecker;
  withdrawals: WithdrawalTracker;
}

/** The verified channel state and the release to consider (the pinned one when `pinVersion` is set). */
export interface ChannelTarget {
  state: ChannelState;
  target: VerifiedRelease;
  version: string;
  active: string | undefined;
}

export async function fetchChannelTarget(
  deps: ChannelDecisionDeps,
  pointerText: string | undefined,
  signal: AbortSignal,
): Promise<ChannelTarget> {
  const { checker, config, layout } = deps;
  const state = pointerText === undefined ? await checker.check(signal) : await checker.consider(pointerText, signal);
  const pinned = config.pinVersion;
  const target =
    pinned && pinned !== state.release.release.version ? await checker.releaseByVersion(pinned, signal) : state.release;
  return { state, target, version: target.release.version, active: await readCurrentVersion(layout) };
}

/** The policy and plan decision for a channel target (pure apart from reading the journal). */
export function decideForTarget(
  deps: ChannelDecisionDeps,
  t: ChannelTarget,
  running: { toVersion: string; pastActivation: boolean } | undefined,
): CheckDecision {
  const { config, store, withdrawals, clock } = deps;
  const pinned = config.pinVersion;
  return decideCheck({
    deviceId: config.deviceId,
    arch: config.arch,
    labels: config.labels,
    configHold: config.hold,
    operatorHold: store.hold(),
    release: t.target.release,
    pointer: pinned ? undefined : t.state.pointer,
    activeVersion: t.active,
    withdrawals: withdrawals.current(),
    denied: store.isDenied(t.version),
    failures: store.recentFailures(t.version),
    running,
    now: clock.now(),
    retryBaseMs: RETRY_BASE_MS,
    retryCapMs: RETRY_CAP_MS,
  });
}
