import { readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "vitest";
import type { LoggedProcess } from "./processes.js";
import type { World } from "./world.js";

export interface SettledExpectation {
  /** The version `current` must point at, complete and verified. */
  active: string;
  /** The journal's last attempt. */
  last: { to: string; result: "succeeded" | "rolled_back" | "failed"; errorCode: string | null };
}

/**
 * After a fault: the device is on a complete version and the journal agrees.
 * `current` names the version, `edge-agent verify` re-hashes it clean, the
 * journal's newest attempt is closed with the expected result and code and no
 * attempt is left open, staging is empty, no download is left for a version
 * already staged, and the daemon is still running and reports so.
 */
export async function expectSettled(w: World, agent: LoggedProcess, expected: SettledExpectation): Promise<void> {
  expect(agent.alive, `the daemon exited:\n${agent.dump()}`).toBe(true);
  expect(await readlink(join(w.dataDir, "current"))).toBe(`versions/${expected.active}`);

  const verify = await w.cli(["verify", "--json"]);
  expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, version: expected.active, problems: [] });

  const status = await w.status();
  expect(status).toMatchObject({ activeVersion: expected.active, phase: "idle", daemon: { running: true } });
  expect(status.lastUpdate).toMatchObject({
    toVersion: expected.last.to,
    result: expected.last.result,
    errorCode: expected.last.errorCode,
  });

  const history = await w.history();
  expect(history[0]).toMatchObject({
    toVersion: expected.last.to,
    result: expected.last.result,
    errorCode: expected.last.errorCode,
  });
  expect(history.filter((h) => h.result === null).map((h) => h.id)).toEqual([]);

  expect(await readdir(join(w.dataDir, "staging"))).toEqual([]);
  const staged = await readdir(join(w.dataDir, "versions"));
  const leftovers = (await readdir(join(w.dataDir, "downloads"))).filter((f) => staged.some((v) => f.includes(`-${v}.`)));
  expect(leftovers).toEqual([]);
}
