import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { appendFile, readFile, readlink, rm, stat, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { World } from "../helpers/world.js";
import {
  dpkg,
  hasCommand,
  listTree,
  makeDpkgRoot,
  mountNamespaceProblem,
  overlayProblem,
  packagingBuildProblem,
  REPO_ROOT,
  run,
  runInstalled,
  runOnOverlay,
  tempDir,
} from "./packaging-root.js";
import { sharedPackagingBuild } from "./shared-build.js";

/**
 * The .deb and install.sh, built for real: build-tree.sh (tsc + npm ci
 * --omit=dev, which compiles better-sqlite3 and bsdiff-node: 1-2 minutes) and
 * build-deb.sh run once per run, in the background from the packaging tier's
 * globalSetup while the other tiers run, and both the .deb and install.sh use
 * that tree. Always on, in CI too: a broken package would otherwise go
 * unnoticed until a device install.
 */

const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string }).version;
const DEB_VERSION = VERSION.replace("-", "~").replaceAll("-", ".");
const buildProblem = packagingBuildProblem();
const nsProblem = mountNamespaceProblem();
const rootProblem = process.getuid?.() === 0 ? undefined : "needs root (dpkg --root chowns to the package's user)";
const depsProblem =
  hasCommand("dpkg") &&
  execFileSync("sh", ["-c", "dpkg -s nodejs adduser >/dev/null 2>&1 && echo ok || true"], { encoding: "utf8" }).trim() !== "ok"
    ? "this machine lacks the package's dependencies (nodejs, adduser)"
    : undefined;
const overlayProbe = await tempDir("edgepull-overlay-probe-");
const overlayWhy = buildProblem ?? depsProblem ?? (await overlayProblem(overlayProbe));
await rm(overlayProbe, { recursive: true, force: true });
const why = (problem: string | undefined) => (problem ? ` (skipped: ${problem})` : "");

describe.skipIf(buildProblem)(`packaging: .deb and install.sh${why(buildProblem)}`, () => {
  let work: string;
  let tree: string;
  let deb: { deb: string; sizeBytes: number };
  let extracted: string;

  beforeAll(async () => {
    work = await tempDir("edgepull-packaging-");
    ({ tree, deb } = await sharedPackagingBuild());
    extracted = join(work, "extracted");
    execFileSync("dpkg-deb", ["-x", deb.deb, extracted]);
  }, 9 * 60_000);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("build-deb.sh --json names edgepull_<version>_<arch>.deb and its size", async () => {
    const arch = execFileSync("dpkg", ["--print-architecture"], { encoding: "utf8" }).trim();
    expect(basename(deb.deb)).toBe(`edgepull_${DEB_VERSION}_${arch}.deb`);
    expect(deb.sizeBytes).toBe((await stat(deb.deb)).size);
  });

  it("dpkg-deb --info: control fields, maintainer scripts, and agent.json as a conffile", async () => {
    const info = (await run("dpkg-deb", ["--info", deb.deb])).stdout;
    expect(info).toMatch(/^ Package: edgepull$/m);
    expect(info).toMatch(new RegExp(`^ Version: ${DEB_VERSION.replaceAll(".", "\\.")}$`, "m"));
    for (const script of ["postinst", "prerm", "postrm", "conffiles", "md5sums"]) expect(info).toContain(` ${script} `);
    const depends = (await run("dpkg-deb", ["--field", deb.deb, "Depends"])).stdout;
    expect(depends).toMatch(/nodejs \(>= 2\d\), nodejs \(<< 2\d\)/);
    expect(depends).toContain("adduser");
    expect((await run("dpkg-deb", ["--info", deb.deb, "conffiles"])).stdout).toBe("/etc/edgepull/agent.json\n");
  });

  it("dpkg-deb --contents: the agent, its production dependencies, links, units, config; nothing for development", async () => {
    const lines = (await run("dpkg-deb", ["--contents", deb.deb])).stdout.split("\n").filter(Boolean);
    const entries = new Map(lines.map((l) => [l.split(/\s+/).slice(5).join(" ").replace(/^\.\//, "/"), l]));
    const has = (p: string) => expect(entries.has(p), p).toBe(true);
    for (const p of [
      "/opt/edgepull/dist/agent/main.js",
      "/opt/edgepull/dist/publisher/main.js",
      "/opt/edgepull/dist/packaging/example-service/server.js",
      "/opt/edgepull/package.json",
      "/opt/edgepull/package-lock.json",
      "/opt/edgepull/node_modules/better-sqlite3/build/Release/better_sqlite3.node",
      "/opt/edgepull/node_modules/pino/package.json",
      "/usr/bin/edge-agent -> /opt/edgepull/dist/agent/main.js",
      "/usr/bin/edge-publish -> /opt/edgepull/dist/publisher/main.js",
      "/etc/edgepull/agent.json",
      "/lib/systemd/system/edgepull-agent.service",
      "/lib/systemd/system/example-inference.service",
      "/lib/systemd/system/edgepull-refresh.service",
      "/lib/systemd/system/edgepull-refresh.timer",
      "/usr/share/doc/edgepull/refresh.env.example",
      "/usr/share/polkit-1/rules.d/50-edgepull-restart.rules",
      "/usr/share/doc/edgepull/copyright",
      "/usr/share/doc/edgepull/README.md",
      "/usr/share/doc/edgepull/operations.md",
      "/usr/share/man/man1/edge-agent.1.gz",
      "/usr/share/man/man1/edge-agent-status.1.gz",
      "/usr/share/man/man1/edge-publish-rollout.1.gz",
      "/usr/share/man/man1/edge-publish-dashboard.1.gz",
      // The fleet dashboard's page and the chart library it serves (no CDN).
      "/opt/edgepull/dist/publisher/dashboard/static/index.html",
      "/opt/edgepull/dist/publisher/dashboard/static/dashboard.js",
      "/opt/edgepull/node_modules/uplot/dist/uPlot.iife.min.js",
      "/opt/edgepull/node_modules/uplot/dist/uPlot.min.css",
      "/usr/share/bash-completion/completions/edge-agent",
      "/usr/share/bash-completion/completions/edge-publish",
      "/usr/share/zsh/vendor-completions/_edge-agent",
      "/usr/share/zsh/vendor-completions/_edge-publish",
    ])
      has(p);
    expect(entries.get("/opt/edgepull/dist/agent/main.js")).toMatch(/^-rwxr-xr-x root\/root /);
    const paths = [...entries.keys()];
    for (const dev of ["typescript", "vitest", "@biomejs", "aedes", "playwright-core"])
      expect(paths.filter((p) => p.includes(`/node_modules/${dev}/`))).toEqual([]);
    expect(paths.filter((p) => /^\/opt\/edgepull\/(packaging|dist\/(test|bench|demo))\//.test(p))).toEqual([]);
    expect(lines.filter((l) => !/ root\/root /.test(l))).toEqual([]);
  });

  it.skipIf(!hasCommand("lintian"))(
    `lintian reports no errors${why(hasCommand("lintian") ? undefined : "lintian is not installed")}`,
    async () => {
      const r = await run("lintian", ["--fail-on", "error", deb.deb], { timeoutMs: 5 * 60_000 });
      expect(r.stdout.split("\n").filter((l) => l.startsWith("E:"))).toEqual([]);
      expect(r.code).toBe(0);
    },
    300_000,
  );

  describe.skipIf(rootProblem)(`dpkg --root into a throwaway root${why(rootProblem)}`, () => {
    let root: string;
    let installOutput: string;
    beforeAll(async () => {
      root = await makeDpkgRoot(work);
      const r = await dpkg(root, ["--install", deb.deb]);
      if (r.code !== 0) throw new Error(`dpkg --install failed:\n${r.stdout}${r.stderr}`);
      installOutput = r.stdout + r.stderr;
    }, 120_000);

    it("postinst runs edge-agent config check: the shipped config is reported, a valid one is not, the install succeeds", async () => {
      const warning = "edgepull: warning: the agent will not start with /etc/edgepull/agent.json";
      expect(installOutput).toContain(warning);
      expect(installOutput).toContain("deviceId must be a non-empty string");
      expect(installOutput).toContain("repository must be a non-empty string");
      const own = await makeDpkgRoot(work);
      expect(await dpkg(own, ["--install", deb.deb])).toMatchObject({ code: 0 });
      const shipped = JSON.parse(await readFile(join(own, "etc/edgepull/agent.json"), "utf8")) as Record<string, unknown>;
      const filled = { ...shipped, deviceId: "dev-deb-1", repository: "http://127.0.0.1:8080" };
      await writeFile(join(own, "etc/edgepull/agent.json"), JSON.stringify(filled));
      const again = await dpkg(own, ["--install", deb.deb]);
      expect(again.code).toBe(0);
      expect(again.stdout + again.stderr).not.toContain(warning);
      await writeFile(join(own, "etc/edgepull/agent.json"), '{"deviceId": "dev-deb-1",');
      const broken = await dpkg(own, ["--install", deb.deb]);
      expect(broken.code).toBe(0);
      expect(broken.stdout + broken.stderr).toMatch(/not valid JSON: line 1, column 26/);
    });

    it("postinst creates the edgepull user, owns the data folder, guards the config, enables the unit", async () => {
      const passwd = await readFile(join(root, "etc/passwd"), "utf8");
      const uid = Number(/^edgepull:[^:]*:(\d+):(\d+):/m.exec(passwd)?.[1]);
      const gid = Number(/^edgepull:[^:]*:(\d+):(\d+):/m.exec(passwd)?.[2]);
      expect(uid).toBeGreaterThan(0);
      const data = await stat(join(root, "var/lib/edgepull"));
      expect({ uid: data.uid, gid: data.gid, mode: data.mode & 0o777 }).toEqual({ uid, gid, mode: 0o750 });
      const config = await stat(join(root, "etc/edgepull/agent.json"));
      expect({ uid: config.uid, gid: config.gid, mode: config.mode & 0o777 }).toEqual({ uid: 0, gid, mode: 0o640 });
      const wants = join(root, "etc/systemd/system/multi-user.target.wants/edgepull-agent.service");
      expect(await readlink(wants)).toBe("/lib/systemd/system/edgepull-agent.service");
    });

    it.skipIf(nsProblem)(`edge-agent --version and edge-publish --version run from it${why(nsProblem)}`, async () => {
      expect(await runInstalled(root, ["edge-agent", "--version"])).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
      expect(await runInstalled(root, ["edge-publish", "--version"])).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
    });

    it.skipIf(nsProblem || !hasCommand("systemd-analyze"))(
      `systemd-analyze verify accepts the installed units with every path present${why(nsProblem)}`,
      async () => {
        const units = ["edgepull-agent.service", "example-inference.service"].map((u) => join(root, "lib/systemd/system", u));
        expect(await runInstalled(root, ["systemd-analyze", "verify", ...units])).toMatchObject({ code: 0, stderr: "" });
      },
    );

    it("keeps an edited agent.json on reinstall; purge removes data, tree and enablement, keeps the user", async () => {
      const own = await makeDpkgRoot(work);
      expect(await dpkg(own, ["--install", deb.deb])).toMatchObject({ code: 0 });
      await appendFile(join(own, "etc/edgepull/agent.json"), "\n");
      const edited = await readFile(join(own, "etc/edgepull/agent.json"), "utf8");
      await writeFile(join(own, "var/lib/edgepull/state.db"), "journal");
      expect(await dpkg(own, ["--install", deb.deb])).toMatchObject({ code: 0 });
      expect(await readFile(join(own, "etc/edgepull/agent.json"), "utf8")).toBe(edited);
      expect(await readFile(join(own, "var/lib/edgepull/state.db"), "utf8")).toBe("journal");

      expect(await dpkg(own, ["--purge", "edgepull"])).toMatchObject({ code: 0 });
      expect(listTree(own).filter((p) => /edgepull/.test(p) && !p.startsWith("./var/lib/dpkg/"))).toEqual([]);
      expect(await readFile(join(own, "etc/passwd"), "utf8")).toMatch(/^edgepull:/m);
    });
  });

  it.skipIf(overlayWhy)(
    `a real dpkg -i on a copy-on-write view of this machine: adduser, owners, and the agent as user edgepull installs a release${why(overlayWhy)}`,
    async () => {
      const world = await World.create();
      const mnt = await tempDir("edgepull-overlay-");
      try {
        await world.release("1.0.0");
        const config = {
          deviceId: "dev-packaged-1",
          dataDir: "/var/lib/edgepull",
          name: world.name,
          channel: world.channel,
          repository: world.repoUrl,
          trustedKeys: ["/etc/edgepull/publisher.pub"],
          service: {
            mode: "supervise",
            command: [process.execPath, "/opt/edgepull/dist/packaging/example-service/server.js"],
            env: { PORT: String(world.servicePort) },
          },
          health: {
            url: `http://127.0.0.1:${world.servicePort}/ready`,
            timeoutSeconds: 20,
            probationSeconds: 1,
            intervalMs: 100,
          },
        };
        const configFile = join(world.root, "packaged-agent.json");
        await writeFile(configFile, JSON.stringify(config));
        const script = [
          "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
          'cp "$1" "$M/root/edgepull.deb"',
          'chroot "$M" dpkg -i /root/edgepull.deb >&2',
          'echo "user=$(chroot "$M" getent passwd edgepull | cut -d: -f1,6,7)"',
          'chroot "$M" stat -c "stat=%n %U:%G %a" /var/lib/edgepull /etc/edgepull/agent.json',
          'echo "enabled=$(readlink "$M/etc/systemd/system/multi-user.target.wants/edgepull-agent.service")"',
          'cp "$2" "$M/etc/edgepull/agent.json"',
          'cp "$3" "$M/etc/edgepull/publisher.pub"',
          'if chroot --userspec=edgepull:edgepull "$M" edge-agent check >&2; then echo check=ok; else echo check=failed; fi',
          'echo "status=$(chroot --userspec=edgepull:edgepull "$M" edge-agent status --json | tr -d "\\n")"',
          'chroot "$M" dpkg --purge edgepull >&2',
          'echo "left=$(cd "$M" && ls -d var/lib/edgepull opt/edgepull etc/edgepull/* 2>/dev/null | tr "\\n" " ")"',
        ].join("\n");
        const r = await runOnOverlay(mnt, script, [deb.deb, configFile, world.publicKeyPath]);
        expect(r.code, r.stderr).toBe(0);
        const out = r.stdout.split("\n");
        const value = (key: string) => out.filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
        expect(value("user")).toEqual(["edgepull:/var/lib/edgepull:/usr/sbin/nologin"]);
        expect(value("stat")).toEqual(["/var/lib/edgepull edgepull:edgepull 750", "/etc/edgepull/agent.json root:edgepull 640"]);
        expect(value("enabled")).toEqual(["/lib/systemd/system/edgepull-agent.service"]);
        expect(value("check"), r.stderr).toEqual(["ok"]);
        expect(JSON.parse(value("status")[0] ?? "null")).toMatchObject({ deviceId: "dev-packaged-1", activeVersion: "1.0.0" });
        // Purge deletes data, program and conffile; the key an admin put beside the config stays.
        expect(value("left")).toEqual(["etc/edgepull/publisher.pub "]);
      } finally {
        await world.close();
        await rm(mnt, { recursive: true, force: true });
      }
    },
    180_000,
  );

  describe("install.sh", () => {
    let root: string;
    beforeAll(async () => {
      root = await tempDir("edgepull-install-root-");
      const r = await run("sh", [join(tree, "packaging", "install.sh"), "--root", root, "--systemd", "yes"]);
      if (r.code !== 0) throw new Error(`install.sh failed:\n${r.stderr}`);
    });
    afterAll(async () => {
      if (root) await rm(root, { recursive: true, force: true });
    });

    it("lays out the tree, links and config as the .deb does; units go to /etc/systemd/system", async () => {
      expect(listTree(join(root, "opt/edgepull"))).toEqual(listTree(join(extracted, "opt/edgepull")));
      for (const link of ["usr/bin/edge-agent", "usr/bin/edge-publish"]) {
        expect(await readlink(join(root, link))).toBe(await readlink(join(extracted, link)));
      }
      for (const file of [
        "etc/edgepull/agent.json",
        "usr/share/doc/edgepull/README.md",
        "usr/share/doc/edgepull/operations.md",
      ]) {
        expect(await readFile(join(root, file), "utf8"), file).toBe(await readFile(join(extracted, file), "utf8"));
      }
      const directives = (text: string) => text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
      for (const unit of ["edgepull-agent.service", "example-inference.service"]) {
        const mine = await readFile(join(root, "etc/systemd/system", unit), "utf8");
        const theirs = await readFile(join(extracted, "lib/systemd/system", unit), "utf8");
        expect(directives(mine.replaceAll(process.execPath, "/usr/bin/node"))).toEqual(directives(theirs));
      }
      expect((await stat(join(root, "var/lib/edgepull"))).mode & 0o777).toBe(0o750);
      expect((await stat(join(root, "etc/polkit-1/rules.d/50-edgepull-restart.rules"))).isFile()).toBe(true);
    });

    it(`--root creates no user and changes no owner`, async () => {
      await expect(stat(join(root, "etc/passwd"))).rejects.toThrow(/ENOENT/);
      expect((await stat(join(root, "var/lib/edgepull"))).uid).toBe(process.getuid?.());
    });

    it.skipIf(nsProblem)(`edge-agent --version runs from the installed root${why(nsProblem)}`, async () => {
      expect(await runInstalled(root, ["edge-agent", "--version"])).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
    });

    for (const tool of ["adduser", "useradd"]) {
      it.skipIf(overlayWhy)(
        `as root on a copy-on-write view of this machine, with ${tool}: creates the user, sets owners, enables the unit${why(overlayWhy)}`,
        async () => {
          const mnt = await tempDir("edgepull-overlay-");
          try {
            const script = [
              "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
              // A device without Debian's adduser: only the overlay loses it.
              tool === "useradd" ? 'rm -f "$M/usr/sbin/adduser" "$M/usr/sbin/addgroup"' : "true",
              'chroot "$M" sh "$1/packaging/install.sh" >&2',
              'echo "user=$(chroot "$M" getent passwd edgepull | cut -d: -f1,6)"',
              'chroot "$M" stat -c "stat=%n %U:%G %a" /opt/edgepull /var/lib/edgepull /etc/edgepull/agent.json',
              'echo "enabled=$(readlink "$M/etc/systemd/system/multi-user.target.wants/edgepull-agent.service")"',
              'echo "version=$(chroot --userspec=edgepull:edgepull "$M" edge-agent --version)"',
            ].join("\n");
            const r = await runOnOverlay(mnt, script, [tree]);
            expect(r.code, r.stderr).toBe(0);
            expect(r.stdout.split("\n").filter(Boolean)).toEqual([
              "user=edgepull:/var/lib/edgepull",
              "stat=/opt/edgepull root:root 755",
              "stat=/var/lib/edgepull edgepull:edgepull 750",
              "stat=/etc/edgepull/agent.json root:edgepull 640",
              "enabled=/etc/systemd/system/edgepull-agent.service",
              `version=${VERSION}`,
            ]);
          } finally {
            await rm(mnt, { recursive: true, force: true });
          }
        },
        120_000,
      );
    }

    it("an upgrade replaces the tree and keeps the config", async () => {
      const other = await tempDir("edgepull-install-upgrade-");
      try {
        const install = () => run("sh", [join(tree, "packaging", "install.sh"), "--root", other, "--systemd", "no"]);
        expect(await install()).toMatchObject({ code: 0 });
        await writeFile(join(other, "etc/edgepull/agent.json"), '{"deviceId":"kept"}\n');
        await writeFile(join(other, "opt/edgepull/left-over.js"), "");
        const again = await install();
        expect(again.stderr).toContain("kept the existing /etc/edgepull/agent.json");
        expect(await readFile(join(other, "etc/edgepull/agent.json"), "utf8")).toBe('{"deviceId":"kept"}\n');
        await expect(stat(join(other, "opt/edgepull/left-over.js"))).rejects.toThrow(/ENOENT/);
        expect(listTree(join(other, "opt"))).toEqual(listTree(join(root, "opt")));
        await expect(stat(join(other, "etc/systemd"))).rejects.toThrow(/ENOENT/);
      } finally {
        await rm(other, { recursive: true, force: true });
      }
    });

    it.skipIf(nsProblem)(`--prefix and --bindir move the tree and links, and the units follow${why(nsProblem)}`, async () => {
      const other = await tempDir("edgepull-install-prefix-");
      try {
        const args = ["--root", other, "--prefix", "/srv/edgepull", "--bindir", "/usr/local/bin", "--systemd", "yes"];
        expect(await run("sh", [join(tree, "packaging", "install.sh"), ...args])).toMatchObject({ code: 0 });
        expect(await readlink(join(other, "usr/local/bin/edge-agent"))).toBe("/srv/edgepull/dist/agent/main.js");
        const agentUnit = await readFile(join(other, "etc/systemd/system/edgepull-agent.service"), "utf8");
        expect(agentUnit).toContain("ExecStart=/usr/local/bin/edge-agent run --config /etc/edgepull/agent.json");
        const exampleUnit = await readFile(join(other, "etc/systemd/system/example-inference.service"), "utf8");
        expect(exampleUnit).toContain(" /srv/edgepull/dist/packaging/example-service/server.js");
        const ran = await runInstalled(other, ["/usr/local/bin/edge-agent", "--version"], {
          prefix: "/srv/edgepull",
          bindir: "/usr/local/bin",
        });
        expect(ran).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
      } finally {
        await rm(other, { recursive: true, force: true });
      }
    });
  });
});
