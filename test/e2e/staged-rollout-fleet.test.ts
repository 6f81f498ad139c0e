import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import type { StatusSnapshot } from "../../agent/telemetry/status-snapshot.js";
import { readChannelPointer } from "../../publisher/repo-files.js";
import type { ChannelPointer } from "../../shared/manifest.js";
import { inRollout } from "../../shared/rollout.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { ensurePublisherBuilt } from "../helpers/built-publisher.js";
import { Fleet } from "../helpers/fleet.js";
import { PUBLISH_BIN, type RunResult, runNode } from "../helpers/processes.js";

/**
 * A staged rollout across a fleet of real agents (aedes in-process, or the
 * broker MQTT_URL names): each step reaches exactly the devices the stable hash
 * puts in the share, and a release that fails everywhere is halted by
 * `edge-publish rollout --halt-on-failures`, the devices that took it back on
 * the release before.
 */

const DEVICES = 20;
const NAME = "vision";
const MIN_DEVICES = 3;
/** Generous: twenty agents share two cores with whatever else CI runs. */
const STEP_TIMEOUT_MS = 120_000;

let fleet: Fleet | undefined;
let broker: TestBroker | undefined;
afterEach(async () => {
  await fleet?.close();
  fleet = undefined;
  await broker?.close();
  broker = undefined;
});

/**
 * Device ids unique to this run (a shared broker keeps retained statuses per
 * id), drawn until every step has something to show: at least two devices in
 * at 10 %, two more joining at 50 %, two still outside at 50 %, and more than
 * MIN_DEVICES (but not all) in the failing release's 50 %.
 */
function chooseDevices(): { tag: string; ids: string[] } {
  for (;;) {
    const tag = randomBytes(3).toString("hex");
    const ids = Array.from({ length: DEVICES }, (_, i) => `roll-${tag}-${String(i + 1).padStart(2, "0")}`);
    const share = (version: string, percent: number): number => ids.filter((id) => inRollout(id, NAME, version, percent)).length;
    const at10 = share("1.1.0", 10);
    const at50 = share("1.1.0", 50);
    const failing = share("1.2.0", 50);
    if (at10 >= 2 && at50 - at10 >= 2 && DEVICES - at50 >= 2 && failing > MIN_DEVICES && failing <= DEVICES - 2) {
      return { tag, ids };
    }
  }
}

function publisher(f: Fleet, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  const r = f.repo;
  const where = ["--repo", r.repoDir, "--name", r.name, "--channel", r.channel, "--key", r.keyPath];
  return runNode(PUBLISH_BIN, ["rollout", ...where, ...args], {}, timeoutMs);
}

async function pointer(f: Fleet): Promise<ChannelPointer> {
  const p = (await readChannelPointer(f.repo.repoDir, f.repo.name, f.repo.channel))?.value;
  if (!p) throw new Error("no channel pointer");
  return p;
}

const sorted = (ids: Iterable<string>): string[] => [...ids].sort();
const idle = (s: StatusSnapshot): boolean => s.phase === "idle";

describe("staged rollout across a fleet", () => {
  it("20 agents: 1.1.0 at 10, 50 and 100 % reaches exactly the hashed devices; a release failing everywhere is halted and undone", async () => {
    await ensurePublisherBuilt();
    broker = await startTestBroker();
    const { tag, ids } = chooseDevices();
    const f = await Fleet.create({
      deviceIds: ids,
      mqttUrl: broker.url,
      name: NAME,
      channel: `rollout-${tag}`,
      healthTimeoutSeconds: 5,
      probationSeconds: 1,
    });
    fleet = f;
    await f.repo.release("1.0.0");
    await f.repo.release("1.1.0", { publish: false });
    await f.repo.release("1.2.0", { publish: false, broken: true });

    await f.start();
    await f.waitAll("every device on 1.0.0", (s) => idle(s) && s.activeVersion === "1.0.0", STEP_TIMEOUT_MS);

    // 1.1.0 in three steps, each a signed pointer pushed over MQTT by the publisher CLI.
    let earlier: string[] = [];
    for (const percent of [10, 50, 100]) {
      const version = percent === 10 ? ["--version", "1.1.0"] : [];
      const r = await publisher(f, ["--percent", String(percent), ...version, "--mqtt", broker.url]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const expected = ids.filter((id) => inRollout(id, NAME, "1.1.0", percent));
      expect(expected).toEqual(expect.arrayContaining(earlier));
      // Settled: on 1.1.0, or told by this very pointer that the device's place is outside the share.
      const outsideNow = `not-in-rollout: 1.1.0 is rolling out to ${percent} % of devices`;
      const statuses = await f.waitAll(
        `1.1.0 at ${percent} %`,
        (s) => idle(s) && (s.activeVersion === "1.1.0" || (s.lastCheck?.outcome.startsWith(outsideNow) ?? false)),
        STEP_TIMEOUT_MS,
      );
      const onNew = ids.filter((id) => statuses.get(id)?.activeVersion === "1.1.0");
      expect(sorted(onNew), `devices on 1.1.0 at ${percent} %`).toEqual(sorted(expected));
      expect(onNew).toEqual(expect.arrayContaining(earlier));
      for (const id of ids.filter((i) => !expected.includes(i))) {
        expect(statuses.get(id)?.activeVersion, id).toBe("1.0.0");
      }
      earlier = onNew;
    }
    expect(earlier).toHaveLength(DEVICES);

    // 1.2.0 never becomes ready (its config disagrees with its weights) on any device.
    const before = await pointer(f);
    const failing = ids.filter((id) => inRollout(id, NAME, "1.2.0", 50));
    const halt = await publisher(
      f,
      [
        "--percent",
        "50",
        "--version",
        "1.2.0",
        "--halt-on-failures",
        "50%",
        "--min-devices",
        String(MIN_DEVICES),
        "--mqtt",
        broker.url,
        "--watch-seconds",
        "240",
      ],
      300_000,
    );
    const said = halt.stdout + halt.stderr;
    expect(halt.code, said).toBe(1);
    expect(halt.stdout, said).toContain(`-> 1.2.0 at 50% (sequence ${before.sequence + 1},`);
    const m =
      /\nrollout halted: (\d+) of (\d+) reporting devices failed \(\d+(?:\.\d+)?%\), above 50%; \S+ \S+ -> 1\.1\.0 at 100% \(sequence (\d+),/.exec(
        halt.stdout,
      );
    expect(m, said).not.toBeNull();
    const [failed, reported, abortSequence] = [Number(m?.[1]), Number(m?.[2]), Number(m?.[3])];
    expect(reported).toBeGreaterThanOrEqual(MIN_DEVICES);
    expect(failed / reported).toBeGreaterThan(0.5);

    // The channel points back at 1.1.0 for everyone, with a sequence above the failed release's.
    const after = await pointer(f);
    expect(after).toMatchObject({ version: "1.1.0", sequence: before.sequence + 2 });
    expect(after.sequence).toBe(abortSequence);
    expect(after.rollout).toBeUndefined();

    // Every device has taken in the abort and has nothing left running.
    const heardAbort = (id: string): boolean =>
      f.device(id).agent?.hasLog((l) => l.msg === "accepted channel pointer" && l.sequence === abortSequence) ?? false;
    const settled = await f.waitAll(
      "every device back on 1.1.0 after the abort",
      (s) => idle(s) && s.activeVersion === "1.1.0" && heardAbort(s.deviceId),
      STEP_TIMEOUT_MS,
    );
    for (const id of ids) expect(settled.get(id)?.activeVersion, id).toBe("1.1.0");

    // Who tried 1.2.0, from each device's own journal: exactly the devices inside its share. Each one
    // that activated it rolled back and deny-listed it; one still downloading when the abort came dropped it.
    const tried: string[] = [];
    const rolledBack: string[] = [];
    for (const id of ids) {
      const history = await f.device(id).device.history();
      const attempts = history.filter((h) => h.toVersion === "1.2.0");
      if (attempts.length === 0) continue;
      tried.push(id);
      expect(history[0]?.toVersion, `${id}: nothing after the 1.2.0 attempt`).toBe("1.2.0");
      for (const a of attempts) {
        const activated = a.phases.some((p) => p.phase === "activating");
        expect(a, id).toMatchObject({
          kind: "update",
          fromVersion: "1.1.0",
          ...(activated ? { result: "rolled_back", errorCode: "HEALTH_TIMEOUT" } : { result: "superseded" }),
        });
      }
      if (attempts.some((a) => a.result === "rolled_back")) {
        rolledBack.push(id);
        expect(settled.get(id)?.denied, id).toContainEqual(
          expect.objectContaining({ version: "1.2.0", errorCode: "HEALTH_TIMEOUT" }),
        );
      }
    }
    // The halt waited for MIN_DEVICES failure reports; the devices that sent them are among these.
    expect(rolledBack.length).toBeGreaterThanOrEqual(MIN_DEVICES);
    expect(sorted(tried)).toEqual(sorted(failing));
  }, 600_000);
});
