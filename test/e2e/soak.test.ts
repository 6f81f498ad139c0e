import { describe, expect, it } from "vitest";
import { journalGrowth, runSoak } from "../../bench/soak.js";
import { AGENT_BIN, EXAMPLE_SERVICE } from "../helpers/processes.js";

const CYCLES = 50;

/**
 * The short soak (the bench runs 1,000 cycles: `node dist/bench/run.js --only soak`):
 * one daemon, 50 cycles of update to a new release then rollback, each over the
 * control socket, through a real repository server and the supervised example service.
 */
describe("soak: one daemon through 50 update and rollback cycles", () => {
  it("keeps file descriptors flat, the folders bounded, the journal growing linearly, and memory settled", {
    timeout: 240_000,
  }, async () => {
    const run = await runSoak({ cycles: CYCLES, agentBin: AGENT_BIN, serviceBin: EXAMPLE_SERVICE, historyRuns: 1 });
    const { samples } = run;
    expect(samples).toHaveLength(CYCLES);

    // No descriptor leaks per cycle: two service processes and their pipes, downloads, SQLite, sockets.
    const fds = samples.map((s) => s.fds);
    expect(Math.max(...fds) - Math.min(...fds), `fds per cycle: ${fds.join(" ")}`).toBeLessThanOrEqual(2);

    // Never more than keepVersions staged versions.
    expect(Math.max(...samples.map((s) => s.versions))).toBeLessThanOrEqual(run.keepVersions);
    // FINDING if this fails: the downloads folder must stay bounded (files and bytes), whatever happened before.
    expect(Math.max(...samples.map((s) => s.downloadFiles)), "downloads/ files").toBeLessThanOrEqual(2);
    expect(Math.max(...samples.map((s) => s.downloadBytes)), "downloads/ bytes").toBeLessThanOrEqual(1024 * 1024);

    // The journal grows, and by about the same amount per cycle in both halves (no quadratic growth).
    const growth = journalGrowth(samples);
    expect(growth.firstHalf).toBeGreaterThan(0);
    expect(growth.secondHalf / growth.firstHalf).toBeGreaterThan(2 / 3);
    expect(growth.secondHalf / growth.firstHalf).toBeLessThan(3 / 2);
    // Every attempt is in it: the first install, then an update and a rollback per cycle.
    expect(run.historyEntries).toBe(1 + 2 * CYCLES);

    // Memory: V8's heap grows through about the first 30 cycles, then saw-tooths by about 5 MiB
    // with its GC (the 1,000-cycle bench shows it level after that). Single samples 40 cycles
    // apart would pass or fail by where a GC happened to land, so the peaks of the two halves
    // are compared: a leak of a few hundred KiB per cycle or more shows as a new high.
    const peak = (from: number, to: number): number =>
      Math.max(...samples.filter((s) => s.cycle >= from && s.cycle <= to).map((s) => s.rssKiB));
    expect(
      peak(26, 50) / peak(1, 25),
      `RSS MiB per cycle: ${samples.map((s) => (s.rssKiB / 1024).toFixed(1)).join(" ")}`,
    ).toBeLessThan(1.15);
  });
});
