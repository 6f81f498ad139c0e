import { afterEach, describe, expect, it } from "vitest";
import { bundleFileName } from "../../shared/repo-layout.js";
import { type FaultProxy, startFaultProxy } from "../helpers/fault-proxy.js";
import { waitFor } from "../helpers/processes.js";
import { expectSettled } from "../helpers/settled.js";
import { World } from "../helpers/world.js";

const MiB = 1024 * 1024;

let world: World | undefined;
let proxy: FaultProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  await world?.close();
  world = undefined;
  proxy = undefined;
});

describe("the repository server killed mid-download", () => {
  it("connections reset, then refused; once it is back the download resumes where it stopped, each byte fetched once", async () => {
    const w = await World.create();
    world = w;
    const p = await startFaultProxy(w.repoUrl);
    proxy = p;
    // Six tries with backoff (0.5, 1, 2, 4, 8 s) outlast the outage below.
    await w.writeConfig({ extraConfig: { repository: p.url, download: { retries: 6, idleTimeoutSeconds: 5 } } });
    await w.release("1.0.0");
    const agent = w.startAgent();
    await waitFor("v1 committed", async () => (await w.peekStatus()).lastUpdate?.result === "succeeded", 30_000);

    await w.release("2.0.0", { publish: false, extraBytes: 4 * MiB });
    const bundle = bundleFileName(w.name, "2.0.0");
    const size = (await w.releaseManifest("2.0.0")).bundle.size;
    const hold = p.holdNext(bundle, 1 * MiB);
    await w.publish("2.0.0");
    await hold.reached;
    await p.kill();

    // The agent notices the reset and then finds nothing listening, more than once.
    const retries = (): Record<string, unknown>[] => agent.lines.filter((l) => l.msg === "download interrupted; retrying");
    await waitFor("two failed retries while the server is down", () => retries().length >= 2, 20_000);
    expect(JSON.stringify(retries().at(-1)?.err)).toContain("ECONNREFUSED");
    expect((await w.status()).phase).toBe("downloading");
    await p.restart();

    await waitFor(
      "v2 committed",
      async () => (await w.peekStatus()).lastUpdate?.result === "succeeded" && (await w.peekStatus()).activeVersion === "2.0.0",
      40_000,
    );
    await expectSettled(w, agent, { active: "2.0.0", last: { to: "2.0.0", result: "succeeded", errorCode: null } });
    expect(await w.servedVersion()).toBe("2.0.0");

    // One attempt, resumed with Range after the restart, and the journal counts each byte once.
    const bundleRequests = p.requests.filter((r) => r.path.endsWith(bundle));
    expect(bundleRequests).toHaveLength(2);
    const resumedFrom = Number(/^bytes=(\d+)-$/.exec(bundleRequests[1]?.range ?? "")?.[1]);
    expect(resumedFrom).toBeGreaterThan(0);
    expect(bundleRequests[1]?.status).toBe(206);
    const history = await w.history();
    expect(history.map((h) => `${h.toVersion}:${h.result}`)).toEqual(["2.0.0:succeeded", "1.0.0:succeeded"]);
    expect(history[0]?.bytesDownloaded).toBe(size);
  });
});
