import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../agent/config.js";
import { buildRelease } from "../../publisher/commands/build.js";
import { keygen } from "../../publisher/commands/keygen.js";
import { publishChannel } from "../../publisher/commands/publish.js";
import { channelPointerPath } from "../../shared/repo-layout.js";
import { ensurePublisherBuilt } from "../helpers/built-publisher.js";
import { PUBLISH_BIN } from "../helpers/processes.js";
import { hasCommand, PACKAGING, run, tempDir } from "./packaging-root.js";

const SERVICES = ["edgepull-agent.service", "example-inference.service", "edgepull-refresh.service"];
const UNITS = [...SERVICES, "edgepull-refresh.timer"];
const unitPath = (name: string) => join(PACKAGING, "systemd", name);

/** [Section] -> key -> values, in order (a key may repeat). */
async function parseUnit(path: string): Promise<Map<string, Map<string, string[]>>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current = new Map<string, string[]>();
  for (const raw of (await readFile(path, "utf8")).split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section?.[1]) {
      current = new Map();
      sections.set(section[1], current);
      continue;
    }
    const eq = line.indexOf("=");
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

/** KEY=value lines of a systemd EnvironmentFile (no quoting used in ours). */
function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined) env[m[1]] = m[2] ?? "";
  }
  return env;
}

/** systemd's expansion: ${VAR} is one argument, $VAR splits on whitespace (none when empty). */
function expandExecStart(line: string, env: Record<string, string>): string[] {
  return line.split(/\s+/).flatMap((word) => {
    const whole = /^\$\{([A-Z_]+)\}$/.exec(word);
    if (whole?.[1]) return [env[whole[1]] ?? ""];
    const split = /^\$([A-Z_]+)$/.exec(word);
    if (split?.[1]) return (env[split[1]] ?? "").split(/\s+/).filter((w) => w !== "");
    return [word];
  });
}

describe("systemd units", () => {
  let work: string;
  beforeAll(async () => {
    work = await tempDir("edgepull-units-");
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it("the agent unit carries the hardening and lifecycle settings a reviewer expects", async () => {
    const service = (await parseUnit(unitPath("edgepull-agent.service"))).get("Service");
    const expected: Record<string, string> = {
      Type: "simple",
      User: "edgepull",
      Group: "edgepull",
      ExecStart: "/usr/bin/edge-agent run --config /etc/edgepull/agent.json",
      NoNewPrivileges: "yes",
      ProtectSystem: "strict",
      ReadWritePaths: "/var/lib/edgepull",
      StateDirectory: "edgepull",
      PrivateTmp: "yes",
      ProtectHome: "yes",
      PrivateDevices: "yes",
      ProtectKernelTunables: "yes",
      ProtectKernelModules: "yes",
      ProtectKernelLogs: "yes",
      ProtectControlGroups: "yes",
      RestrictAddressFamilies: "AF_UNIX AF_INET AF_INET6",
      RestrictNamespaces: "yes",
      LockPersonality: "yes",
      MemoryDenyWriteExecute: "no",
      SystemCallArchitectures: "native",
      CapabilityBoundingSet: "",
      Restart: "on-failure",
      RestartSec: "5",
      KillMode: "mixed",
      // A config error (exit 2) is not retried every 5 s.
      RestartPreventExitStatus: "2",
    };
    for (const [key, value] of Object.entries(expected))
      expect({ key, value: service?.get(key) }).toEqual({ key, value: [value] });
    // Longer than the agent's own stop of a supervised child (service.stopTimeoutSeconds, default 10).
    expect(Number(service?.get("TimeoutStopSec")?.[0])).toBeGreaterThan(10);
  });

  it("the example inference service reads the active model through the current link", async () => {
    const service = (await parseUnit(unitPath("example-inference.service"))).get("Service");
    expect(service?.get("Environment")).toContain("EDGEPULL_MODEL_DIR=/var/lib/edgepull/current");
    expect(service?.get("ExecStart")?.[0]).toBe("/usr/bin/node /opt/edgepull/dist/packaging/example-service/server.js");
    expect(service?.get("MemoryDenyWriteExecute")).toEqual(["no"]);
  });

  it("the refresh timer starts the refresh service daily, spread out, catching up after downtime", async () => {
    const timer = await parseUnit(unitPath("edgepull-refresh.timer"));
    expect(Object.fromEntries(timer.get("Timer") ?? [])).toEqual({
      OnCalendar: ["daily"],
      RandomizedDelaySec: ["1h"],
      Persistent: ["yes"],
    });
    expect(timer.get("Install")?.get("WantedBy")).toEqual(["timers.target"]);
    const service = (await parseUnit(unitPath("edgepull-refresh.service"))).get("Service");
    expect(service?.get("Type")).toEqual(["oneshot"]);
    expect(service?.get("User")).toEqual(["edgepull-publish"]);
    expect(service?.get("EnvironmentFile")).toEqual(["/etc/edgepull/refresh.env"]);
    expect(service?.get("ProtectSystem")).toEqual(["strict"]);
    expect(service?.get("NoNewPrivileges")).toEqual(["yes"]);
  });

  it("the refresh service's command line, with the shipped environment file, is one edge-publish accepts", async () => {
    await ensurePublisherBuilt();
    const service = (await parseUnit(unitPath("edgepull-refresh.service"))).get("Service");
    const env = parseEnvFile(await readFile(join(PACKAGING, "config", "refresh.env"), "utf8"));
    const execStart = service?.get("ExecStart")?.[0] ?? "";
    // Every variable the command line names is set in the file (an empty one is allowed only for the extra options).
    const named = [...execStart.matchAll(/\$\{?([A-Z_]+)\}?/g)].map((m) => m[1] as string);
    expect(named.sort()).toEqual(["EDGEPULL_KEY", "EDGEPULL_REFRESH_OPTIONS", "EDGEPULL_REPO"]);
    for (const v of named) expect(Object.keys(env), v).toContain(v);
    expect(env.EDGEPULL_REPO?.startsWith("/srv/edgepull/")).toBe(true); // inside the unit's ReadWritePaths

    // A repository with a pointer due in 3 days, at the file's paths moved into a temp folder.
    const work = await tempDir("edgepull-refresh-unit-");
    try {
      const repoDir = join(work, "repo");
      const keys = await keygen({ outDir: join(work, "keys") });
      await mkdir(join(work, "model"));
      await writeFile(join(work, "model", "weights.bin"), "w");
      await buildRelease({ modelDir: join(work, "model"), name: "m", version: "1.0.0", repoDir, keyPath: keys.privateKeyPath });
      await publishChannel({
        repoDir,
        name: "m",
        version: "1.0.0",
        channel: "stable",
        keyPath: keys.privateKeyPath,
        expiresInDays: 3,
      });
      const args = expandExecStart(execStart, { ...env, EDGEPULL_REPO: repoDir, EDGEPULL_KEY: keys.privateKeyPath });
      expect(args[0]).toBe("/usr/bin/edge-publish");
      const r = await run(process.execPath, [PUBLISH_BIN, ...args.slice(1)]);
      expect(r, r.stderr).toMatchObject({ code: 0 });
      expect(r.stdout).toMatch(/^re-signed m stable -> 1\.0\.0: sequence 1 -> 2/m);
      const pointer = JSON.parse(await readFile(join(repoDir, channelPointerPath("m", "stable")), "utf8"));
      expect(pointer.signed.sequence).toBe(2);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it.skipIf(!hasCommand("systemd-analyze"))(
    "systemd-analyze verify accepts every unit (skipped without systemd-analyze)",
    async () => {
      const r = await run("systemd-analyze", ["verify", ...UNITS.map(unitPath)]);
      // The package's own programs are not installed on this machine; anything else is a finding.
      const findings = r.stderr
        .split("\n")
        .filter((l) => l.trim() !== "")
        .filter(
          (l) => !/: Command (\/usr\/bin\/edge-(agent|publish)|\/usr\/bin\/node|\/opt\/edgepull\/\S+) is not executable/.test(l),
        );
      expect(findings).toEqual([]);
    },
  );

  it.skipIf(!hasCommand("systemd-analyze"))(
    "systemd-analyze verify reports a misspelt directive (the check above can fail)",
    async () => {
      const broken = join(work, "edgepull-agent.service");
      const text = await readFile(unitPath("edgepull-agent.service"), "utf8");
      await writeFile(broken, text.replace("ProtectKernelLogs=yes", "ProtectKernelLog=yes"));
      const r = await run("systemd-analyze", ["verify", broken]);
      expect(r.stderr).toMatch(/Unknown key.*ProtectKernelLog/);
    },
  );

  it.skipIf(!hasCommand("systemd-analyze"))("systemd-analyze security rates every service at most 4.0 (offline)", async (ctx) => {
    for (const unit of SERVICES) {
      const r = await run("systemd-analyze", ["security", "--offline=yes", "--no-pager", unitPath(unit)]);
      if (/unrecognized option|Unknown option/.test(r.stderr)) ctx.skip("this systemd-analyze has no --offline");
      const level = /Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout)?.[1];
      expect({ unit, level: Number(level) }).toEqual({ unit, level: expect.any(Number) });
      expect(Number(level), unit).toBeLessThanOrEqual(4.0);
    }
  });
});

describe("polkit rule", () => {
  type Verdict = string | undefined;
  let rule: (action: { id: string; lookup: (k: string) => string }, subject: { user: string }) => Verdict;
  beforeAll(async () => {
    const text = await readFile(join(PACKAGING, "polkit", "50-edgepull-restart.rules"), "utf8");
    // polkitd runs rules files as JavaScript with a global `polkit`; here a stand-in collects the rule.
    const polkit = {
      Result: { YES: "yes", NO: "no", NOT_HANDLED: "not-handled" },
      addRule: (fn: typeof rule) => {
        rule = fn;
      },
    };
    runInNewContext(text, { polkit });
  });
  const ask = (user: string, unit: string, verb: string, id = "org.freedesktop.systemd1.manage-units") =>
    rule({ id, lookup: (k) => ({ unit, verb })[k] ?? "" }, { user });

  it("lets edgepull restart example-inference.service and nothing else", () => {
    expect(ask("edgepull", "example-inference.service", "restart")).toBe("yes");
    expect(ask("edgepull", "example-inference.service", "stop")).toBe("not-handled");
    expect(ask("edgepull", "example-inference.service", "start")).toBe("not-handled");
    expect(ask("edgepull", "ssh.service", "restart")).toBe("not-handled");
    expect(ask("nobody", "example-inference.service", "restart")).toBe("not-handled");
    expect(ask("edgepull", "example-inference.service", "restart", "org.freedesktop.systemd1.manage-unit-files")).toBe(
      "not-handled",
    );
  });
});

describe("shipped config", () => {
  it("refuses to start until deviceId and repository are set, and names exactly those", async () => {
    const raw = JSON.parse(await readFile(join(PACKAGING, "config", "agent.json"), "utf8")) as Record<string, unknown>;
    expect(() => parseConfig(raw, "/etc/edgepull/agent.json")).toThrow(/2 problem\(s\): deviceId .*; repository /);
    const config = parseConfig(
      { ...raw, deviceId: "dev-1", repository: "https://updates.example.com" },
      "/etc/edgepull/agent.json",
    );
    expect(config.dataDir).toBe("/var/lib/edgepull");
    expect(config.trustedKeys).toEqual(["/etc/edgepull/publisher.pub"]);
    // The restart the polkit rule allows, and the port the example service listens on.
    expect(config.service).toMatchObject({ mode: "command", command: ["systemctl", "restart", "example-inference.service"] });
    const example = (await parseUnit(unitPath("example-inference.service"))).get("Service");
    expect(example?.get("Environment")).toContain(`PORT=${new URL(config.health.url).port}`);
  });
});

describe("packaging scripts", () => {
  const posix = ["install.sh", "debian/postinst", "debian/prerm", "debian/postrm"];
  const bash = ["build-tree.sh", "build-deb.sh", "deb-docs.sh", "trim-node-modules.sh"];

  it("parse as POSIX sh (the device may have only dash or BusyBox) and bash", async () => {
    const shell = hasCommand("dash") ? "dash" : "sh";
    for (const f of posix) expect({ f, ...(await run(shell, ["-n", join(PACKAGING, f)])) }).toMatchObject({ f, code: 0 });
    for (const f of bash) expect({ f, ...(await run("bash", ["-n", join(PACKAGING, f)])) }).toMatchObject({ f, code: 0 });
  });

  it.skipIf(!hasCommand("shellcheck"))("shellcheck finds nothing (skipped without shellcheck)", async () => {
    const r = await run("shellcheck", ["-x", ...[...posix, ...bash].map((f) => join(PACKAGING, f))]);
    expect(r.stdout).toBe("");
    expect(r.code).toBe(0);
  });

  it("install.sh refuses a folder that is not a built tree, before writing anything", async () => {
    const work = await tempDir("edgepull-install-");
    try {
      const r = await run("sh", [join(PACKAGING, "install.sh"), "--from", work, "--root", join(work, "root")]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`${work} is not a built tree`);
      expect(await readdir(work)).toEqual([]);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
