import { randomBytes, randomInt } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishChannel } from "../../publisher/commands/publish.js";
import { changeRollout } from "../../publisher/commands/rollout.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { type DashboardProcess, startDashboardProcess } from "../helpers/dashboard-process.js";
import { REPO_ROOT } from "../helpers/processes.js";
import { type SimulatedDevice, SimulatedFleet } from "../helpers/simulated-devices.js";
import { type TempPublisher, tempPublisher } from "../helpers/temp-publisher.js";

/**
 * The fleet page in a real headless Chromium (Debian's package; CI installs it
 * with apt) against `edge-publish dashboard` on a real broker, fed by simulated
 * devices. DASHBOARD_SCREENSHOT=docs/dashboard.png also writes the README's
 * screenshot there (otherwise into the test's temp folder).
 */
const CHROMIUM = "/usr/bin/chromium";
const chromiumMissing = !existsSync(CHROMIUM);
const SKIPPED = `skipped: ${CHROMIUM} is absent (apt-get install --no-install-recommends chromium)`;
if (chromiumMissing) console.warn(`dashboard browser test ${SKIPPED}`);

const t = randomBytes(2).toString("hex");
const name = "demo-model";
const channel = `stable${t}`;
const oldVersion = `1.${randomInt(100, 999)}.0`;
const newVersion = `2.${randomInt(100, 999)}.0`;
const FLEET_SIZE = 36;
const HOSTILE_ID = `<img src=x onerror=window.__xss=1>-${t}`;
const HOSTILE_ERROR = `<script>window.__xss=2</script><b>bold</b>`;

let broker: TestBroker;
let publisher: TempPublisher;
let fleet: SimulatedFleet;
let devices: SimulatedDevice[] = [];
let dashboard: DashboardProcess;
let context: BrowserContext;
let page: Page;
let root: string;
/** Uncaught errors of the page's own scripts: none is expected. */
const pageErrors: string[] = [];

const id = (i: number): string => `edge-${String(i).padStart(2, "0")}-${t}`;

beforeAll(async () => {
  if (chromiumMissing) return;
  root = await mkdtemp(join(tmpdir(), "edgepull-dashboard-e2e-"));
  broker = await startTestBroker();
  publisher = await tempPublisher("edgepull-dashboard-repo-", name, [oldVersion, newVersion]);
  const base = { repoDir: publisher.repoDir, name, channel, keyPath: publisher.keyPath };
  await publishChannel({ ...base, version: newVersion });
  await changeRollout({ ...base, action: { kind: "percent", percent: 100 } });
  fleet = new SimulatedFleet(broker.url);
  devices = await Promise.all(Array.from({ length: FLEET_SIZE }, (_, i) => fleet.add(id(i))));
  // Most still on the old version, a few already moved, two that failed, some mid-update.
  await Promise.all(
    devices.map((d, i) => {
      if (i < 6) return d.status({ channel, activeVersion: newVersion, previousVersion: oldVersion });
      if (i < 8) {
        return d.status({
          channel,
          activeVersion: oldVersion,
          lastResult: { version: newVersion, result: "rolled_back", errorCode: "HEALTH_TIMEOUT", at: new Date().toISOString() },
        });
      }
      if (i < 12) return d.status({ channel, activeVersion: oldVersion, phase: i % 2 ? "downloading" : "probation" });
      return d.status({ channel, activeVersion: oldVersion });
    }),
  );
  const hostile = await fleet.add(HOSTILE_ID);
  await hostile.status({
    channel,
    activeVersion: oldVersion,
    health: { ok: false, status: 500, error: HOSTILE_ERROR },
    lastResult: { version: newVersion, result: "failed", errorCode: HOSTILE_ERROR, at: new Date().toISOString() },
  });
  dashboard = await startDashboardProcess(["--mqtt", broker.url, "--repo", publisher.repoDir]);
  const userDataDir = join(root, "chromium-profile");
  await mkdir(userDataDir);
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 1100 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  // Offline on purpose: everything the page needs must come from the dashboard itself.
  await context.route(/^(?!http:\/\/127\.0\.0\.1)/, (route) => route.abort());
  page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (err) => pageErrors.push(err.message));
  await page.goto(dashboard.url);
}, 180_000);

afterAll(async () => {
  if (chromiumMissing) return;
  await context?.close();
  await dashboard?.stop();
  await fleet?.close();
  await broker?.close();
  if (publisher) await rm(publisher.root, { recursive: true, force: true });
  if (root) await rm(root, { recursive: true, force: true });
});

const row = (deviceId: string) => page.locator("#devices tbody tr").filter({ has: page.getByText(deviceId, { exact: true }) });
const versionCell = (version: string, column: string) => page.locator(`#versions tr[data-version="${version}"] td.${column}`);
const rollout = () => page.locator(`#rollouts [data-channel="${name}/${channel}"]`);

describe.skipIf(chromiumMissing)(`the fleet dashboard in headless Chromium${chromiumMissing ? ` (${SKIPPED})` : ""}`, () => {
  it("shows every simulated device and the right counts per version", async () => {
    await expect
      .poll(() => page.locator(`#devices tbody tr[data-device-id$="-${t}"]`).count(), { timeout: 15_000 })
      .toBe(FLEET_SIZE + 1);
    await expect.poll(() => versionCell(newVersion, "devices").textContent(), { timeout: 10_000 }).toBe("6");
    await expect.poll(() => versionCell(oldVersion, "devices").textContent()).toBe(String(FLEET_SIZE - 6 + 1));
    expect(Number(await page.locator("#count-devices").textContent())).toBeGreaterThanOrEqual(FLEET_SIZE + 1);
    await expect.poll(() => rollout().locator(".updated").textContent()).toBe("updated 6");
    await expect.poll(() => rollout().locator(".failed").textContent()).toBe("failed 3");
    expect(await page.locator("#connection").textContent()).toBe("live");
  });

  it("shows hostile device strings as text, never as markup", async () => {
    const hostile = row(HOSTILE_ID);
    await expect.poll(() => hostile.count(), { timeout: 10_000 }).toBe(1);
    expect(await hostile.textContent()).toContain(HOSTILE_ERROR);
    expect(await page.locator("#devices img, #devices script, #devices b").count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss)).toBeUndefined();
  });

  it("opens a device's history on click", async () => {
    await row(id(6)).click();
    await expect.poll(() => page.locator("#detail").isVisible()).toBe(true);
    expect(await page.locator("#detail-id").textContent()).toBe(id(6));
    await expect.poll(() => page.locator("#detail-fields").textContent()).toContain("HEALTH_TIMEOUT");
    expect(await page.locator("#history tbody").textContent()).toContain("online");
    expect(await page.locator("#detail-fields").textContent()).toContain("Cortex-A72");
  });

  it("turns a device red within seconds of its last-will", async () => {
    const target = row(id(20));
    expect(await target.getAttribute("class")).toBe("online");
    devices[20]!.vanish();
    await expect.poll(() => target.getAttribute("class"), { timeout: 5_000 }).toBe("offline");
    const color = await target.evaluate(
      (el) => (globalThis as unknown as { getComputedStyle(e: unknown): { color: string } }).getComputedStyle(el).color,
    );
    expect(color).toBe("rgb(176, 0, 32)");
    expect(await page.locator("#events").textContent()).toContain(`${id(20)} offline`);
  });

  it("moves the rollout chart as devices update", async () => {
    const chart = rollout().locator(".chart");
    const points = async (): Promise<number> => Number(await chart.getAttribute("data-points"));
    const before = await points();
    expect(before).toBeGreaterThan(0);
    expect(await chart.locator("canvas").count()).toBe(1);
    await devices[7]!.event({
      type: "rolled_back",
      version: newVersion,
      fromVersion: oldVersion,
      errorCode: "HEALTH_TIMEOUT",
      error: "GET http://127.0.0.1:8000/ready did not answer 200 within 60 s",
    });
    for (let i = 12; i < 18; i++) {
      const shown = await points();
      await devices[i]!.event({ type: "update_started", version: newVersion, fromVersion: oldVersion });
      await devices[i]!.status({ channel, activeVersion: newVersion, previousVersion: oldVersion });
      await devices[i]!.event({ type: "succeeded", version: newVersion, fromVersion: oldVersion, durationMs: 41_000 });
      // One point per change the page saw: wait for it before the next device moves.
      await expect.poll(points, { timeout: 5_000 }).toBeGreaterThan(shown);
    }
    expect(await points()).toBeGreaterThanOrEqual(before + 6);
    expect(await page.locator("#events").textContent()).toContain(
      `${id(7)} rolled_back ${newVersion} HEALTH_TIMEOUT: GET http://127.0.0.1:8000/ready did not answer 200 within 60 s`,
    );
    await expect.poll(() => rollout().locator(".updated").textContent()).toBe("updated 12");
    await expect.poll(() => versionCell(newVersion, "devices").textContent()).toBe("12");
    // Screenshot for the README (docs/dashboard.png when asked), with the chart drawn.
    await page.locator("#detail-close").click();
    const target = process.env.DASHBOARD_SCREENSHOT
      ? resolve(REPO_ROOT, process.env.DASHBOARD_SCREENSHOT)
      : join(root, "dashboard.png");
    await mkdir(dirname(target), { recursive: true });
    await page.screenshot({ path: target, fullPage: true });
    expect(existsSync(target)).toBe(true);
    expect(pageErrors).toEqual([]);
  });

  it("with --token, the page opened as /?token=T goes live; without it, it says the connection failed", async () => {
    const token = randomBytes(12).toString("hex");
    const guarded = await startDashboardProcess(["--mqtt", broker.url, "--repo", publisher.repoDir, "--token", token]);
    const other = await context.newPage();
    try {
      await other.goto(guarded.url);
      await expect
        .poll(() => other.locator("#connection").textContent(), { timeout: 10_000 })
        .toContain("open it with its token");
      expect(await other.locator("#devices tbody tr").count()).toBe(0);
      await other.goto(`${guarded.url}?token=${token}`);
      await expect.poll(() => other.locator("#connection").textContent(), { timeout: 10_000 }).toBe("live");
      await expect
        .poll(() => other.locator(`#devices tbody tr[data-device-id$="-${t}"]`).count(), { timeout: 10_000 })
        .toBe(FLEET_SIZE + 1);
    } finally {
      await other.close();
      expect(await guarded.stop()).toBe(0);
    }
  });

  it("with --basic-auth, the browser is asked for the password; given it, the page and its live stream work", async () => {
    const password = randomBytes(9).toString("hex");
    const guarded = await startDashboardProcess([
      "--mqtt",
      broker.url,
      "--repo",
      publisher.repoDir,
      "--basic-auth",
      `ops:${password}`,
    ]);
    // A browser of its own: credentials belong to a context, and the shared one has none.
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
    try {
      // Without credentials the answer is a Basic challenge; a browser with none to give gives up on the page.
      const without = await browser.newContext();
      const challenge = await without.request.get(guarded.url);
      expect(challenge.status()).toBe(401);
      expect(challenge.headers()["www-authenticate"]).toMatch(/^Basic /);
      await expect((await without.newPage()).goto(guarded.url)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
      // A wrong password is answered 401 again, and the page never loads.
      const wrong = await browser.newContext({ httpCredentials: { username: "ops", password: "wrong" } });
      const wrongPage = await wrong.newPage();
      expect((await wrongPage.goto(guarded.url))?.status()).toBe(401);
      expect(await wrongPage.locator("#devices").count()).toBe(0);
      const right = await browser.newContext({ httpCredentials: { username: "ops", password } });
      const authed = await right.newPage();
      expect((await authed.goto(guarded.url))?.status()).toBe(200);
      await expect.poll(() => authed.locator("#connection").textContent(), { timeout: 10_000 }).toBe("live");
      await expect
        .poll(() => authed.locator(`#devices tbody tr[data-device-id$="-${t}"]`).count(), { timeout: 10_000 })
        .toBe(FLEET_SIZE + 1);
    } finally {
      await browser.close();
      expect(await guarded.stop()).toBe(0);
    }
  });
});
