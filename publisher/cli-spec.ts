import { ARCH_ALIASES, isKnownArch, NODE_ARCHES } from "../shared/arch-names.js";
import type { CliSpec } from "../shared/cli-options.js";
import { EdgeError } from "../shared/errors.js";
import type { Compatibility } from "../shared/manifest.js";

/** What `edge-publish` accepts: commands, their flags and help texts. No side effects here. */

const MQTT_OPTIONS = {
  mqtt: { type: "string" },
  "mqtt-username": { type: "string" },
  "mqtt-password": { type: "string" },
  "mqtt-ca": { type: "string" },
  "mqtt-cert": { type: "string" },
  "mqtt-key": { type: "string" },
} as const;

const COMMAND_OPTIONS = {
  keygen: { out: { type: "string" }, force: { type: "boolean" } },
  build: {
    name: { type: "string" },
    version: { type: "string" },
    repo: { type: "string" },
    key: { type: "string" },
    arch: { type: "string" },
    labels: { type: "string" },
    "gzip-level": { type: "string" },
    "delta-from": { type: "string" },
  },
  delta: {
    repo: { type: "string" },
    name: { type: "string" },
    from: { type: "string" },
    to: { type: "string" },
    key: { type: "string" },
    ...MQTT_OPTIONS,
  },
  publish: {
    repo: { type: "string" },
    name: { type: "string" },
    version: { type: "string" },
    channel: { type: "string" },
    key: { type: "string" },
    "expires-days": { type: "string" },
    force: { type: "boolean" },
    ...MQTT_OPTIONS,
  },
  serve: { repo: { type: "string" }, port: { type: "string" }, host: { type: "string" } },
  fleet: { ...MQTT_OPTIONS, watch: { type: "boolean" }, "wait-ms": { type: "string" }, "warn-days": { type: "string" } },
  dashboard: {
    ...MQTT_OPTIONS,
    repo: { type: "string" },
    port: { type: "string" },
    host: { type: "string" },
    token: { type: "string" },
    "basic-auth": { type: "string" },
  },
  watch: {
    models: { type: "string" },
    repo: { type: "string" },
    key: { type: "string" },
    channel: { type: "string" },
    name: { type: "string" },
    "stable-ms": { type: "string" },
    deltas: { type: "string" },
    ...MQTT_OPTIONS,
  },
  promote: {
    repo: { type: "string" },
    name: { type: "string" },
    version: { type: "string" },
    from: { type: "string" },
    to: { type: "string" },
    key: { type: "string" },
    percent: { type: "string" },
    "expires-days": { type: "string" },
    force: { type: "boolean" },
    "require-healthy-hours": { type: "string" },
    "min-devices": { type: "string" },
    "max-failure-rate": { type: "string" },
    "wait-ms": { type: "string" },
    reason: { type: "string" },
    by: { type: "string" },
    ...MQTT_OPTIONS,
  },
  channels: { repo: { type: "string" }, name: { type: "string" }, "warn-days": { type: "string" } },
  refresh: {
    repo: { type: "string" },
    key: { type: "string" },
    name: { type: "string" },
    "before-days": { type: "string" },
    "expires-days": { type: "string" },
    "dry-run": { type: "boolean" },
    ...MQTT_OPTIONS,
  },
  rollout: {
    repo: { type: "string" },
    name: { type: "string" },
    channel: { type: "string" },
    key: { type: "string" },
    percent: { type: "string" },
    pause: { type: "boolean" },
    resume: { type: "boolean" },
    abort: { type: "boolean" },
    version: { type: "string" },
    to: { type: "string" },
    force: { type: "boolean" },
    "halt-on-failures": { type: "string" },
    "min-devices": { type: "string" },
    "watch-seconds": { type: "string" },
    "expires-days": { type: "string" },
    ...MQTT_OPTIONS,
  },
  keys: {
    repo: { type: "string" },
    key: { type: "string" },
    add: { type: "string", multiple: true },
    remove: { type: "string", multiple: true },
  },
  withdraw: {
    repo: { type: "string" },
    name: { type: "string" },
    version: { type: "string" },
    reason: { type: "string" },
    key: { type: "string" },
    "keep-running": { type: "boolean" },
    "expires-days": { type: "string" },
    ...MQTT_OPTIONS,
  },
  inspect: { keys: { type: "string", multiple: true } },
  verify: { keys: { type: "string", multiple: true } },
  releases: { repo: { type: "string" }, name: { type: "string" } },
  completion: {},
} as const;

export type CommandName = keyof typeof COMMAND_OPTIONS;

const MQTT_HELP = `MQTT_OPTIONS: --mqtt-username U --mqtt-password P (login), --mqtt-ca FILE (PEM CA for mqtts://),
              --mqtt-cert FILE --mqtt-key FILE (client certificate).
`;

export const HELP: Record<CommandName | "", string> = {
  "": `edge-publish: build, sign and publish model releases for edgepull devices

Usage: edge-publish <command> [options]

Commands:
  keygen    create the Ed25519 signing key pair (publisher.key, publisher.pub)
  build     turn a model folder into a signed, reproducible bundle in a repository
  delta     make deltas from earlier releases to a release, offered to devices in its signed manifest
  publish   point a channel (stable, canary, ...) at a built version
  serve     serve a repository over HTTP (Range, ETag) for tests and demos
  fleet     show every device's status from an MQTT broker
  dashboard serve a live fleet page: devices, versions, each channel's rollout, recent events
  watch     build and publish each new model version that training drops into a folder
  promote   point a channel at the release another channel carries (staging -> stable)
  channels  list every channel pointer: release, sequence, rollout share, expiry
  refresh   re-sign every channel pointer and withdrawal list that expires soon (same content, next sequence)
  rollout   set a channel's rollout share, pause, resume or abort it (optionally halting on failures)
  keys      write the signed keys documents (keys init, keys rotate) devices follow to trust new keys
  withdraw  withdraw a release: devices never install it, and those running it move off it
  inspect   show a bundle's or a release's metadata and signatures without unpacking the payload
  verify    check a bundle offline as a device would (signatures, every digest, entry rules): exit 0 or 1
  releases  list every release in a repository: size, deltas, channels pointing at it, withdrawn or not
  completion print the shell completion script (bash or zsh)

Every command takes --help and --json (one JSON object on stdout).
Errors print one line "edge-publish: CODE: message" on stderr; exit 1 (2 for usage errors).
With --json, stdout then holds {"error": {"code": ..., "message": ...}} too. Commands that read a
repository (serve, channels, releases, rollout, promote, refresh) refuse a folder that is not one (REPO_INVALID).
edge-publish --version prints the version.
`,
  keygen: `Usage: edge-publish keygen --out DIR [--force] [--json]
Writes DIR/publisher.key (private, mode 0600) and DIR/publisher.pub (give it to devices).
Refuses to replace an existing key unless --force: devices trusting the old key would reject new releases.
`,
  build: `Usage: edge-publish build MODEL_DIR --name NAME --version SEMVER --repo REPO_DIR --key PRIVATE_KEY
                          [--arch a,b] [--labels l1,l2] [--gzip-level 0-9] [--delta-from V1[,V0...]] [--json]
Hashes every file in MODEL_DIR, writes releases/NAME/VERSION/NAME-VERSION.tar.gz and a signed release.json.
The same folder always gives the same bundle bytes. Rebuilding a version with the same content does nothing;
with other content it fails with VERSION_EXISTS. --gzip-level defaults to 1 (weights barely compress).
--delta-from: then makes a delta from each named release, as edge-publish delta does.
`,
  delta: `Usage: edge-publish delta --repo REPO_DIR --name NAME --from V1[,V0...] --to V2 --key PRIVATE_KEY
                          [--mqtt URL [MQTT_OPTIONS]] [--json]
Makes releases/NAME/V2/deltas/V1.epdelta, which rebuilds V2's files from V1's on the device: unchanged files
cost nothing, safetensors weights are diffed tensor by tensor, other files with bsdiff in 16 MiB windows.
A delta smaller than V2's bundle is recorded (URL, size, SHA-256, base version) in V2's re-signed release.json;
a larger one is dropped, and devices download the bundle. The same inputs give the same delta bytes.
Channels pointing at V2 get a new pointer (same rollout, next sequence; also sent to the broker with --mqtt),
since a pointer names the release manifest by digest. Both bundles are unpacked and verified in the temp folder.
${MQTT_HELP}`,
  publish: `Usage: edge-publish publish --repo REPO_DIR --name NAME --version SEMVER --channel CHANNEL --key PRIVATE_KEY
                            [--expires-days N] [--force] [--mqtt URL [MQTT_OPTIONS]] [--json]
Writes a signed channels/NAME/CHANNEL.json naming the release, with the next sequence number and an expiry
(default 30 days). Re-publish before it expires: devices refuse an expired pointer.
With --mqtt, also publishes the file's exact bytes to edgepull/v1/NAME/channels/CHANNEL (retained, QoS 1)
and waits for the broker's acknowledgement; a broker not reached within 10 s fails with MQTT_ERROR.
A withdrawn version (edge-publish withdraw) is refused with VERSION_WITHDRAWN unless --force.
${MQTT_HELP}`,
  serve: `Usage: edge-publish serve --repo REPO_DIR --port PORT [--host H] [--json]
Serves the repository read-only over HTTP (GET, HEAD, Range, ETag, If-Range) until SIGINT or SIGTERM.
Listens on 127.0.0.1 unless --host says otherwise (0.0.0.0 for every interface). Port 0 picks a free port.
`,
  fleet: `Usage: edge-publish fleet --mqtt URL [MQTT_OPTIONS] [--watch] [--wait-ms N] [--warn-days N] [--json]
Reads every device's retained status (and live events) from the broker and prints one row per device
(DEVICE, ONLINE, ACTIVE, PHASE, LAST RESULT, HEALTH, LAST SEEN) and a summary per active version.
ACTIVE says WITHDRAWN for a device running a version the publisher withdrew ("WITHDRAWN (kept)" with
withdraw --keep-running); the summary counts them per version.
Also reads the retained channel pointers (edgepull/v1/NAME/channels/CHANNEL) and withdrawal lists
(edgepull/v1/NAME/withdrawals) and prints a warning line for each that is EXPIRED or expires within
--warn-days days (default 7).
Waits until statuses stop arriving for 300 ms, at most --wait-ms (default 2000).
--json prints {"devices": [...], "versions": [...], "pointers": [...], "withdrawalLists": [...], "warnings": [...]}. --watch keeps listening and redraws on every change
(one JSON line per change with --json) until Ctrl-C. Malformed messages are skipped with a warning.
${MQTT_HELP}`,
  dashboard: `Usage: edge-publish dashboard --mqtt URL [MQTT_OPTIONS] --repo REPO_DIR [--port P] [--host H]
                              [--token T | --basic-auth USER:PASS] [--json]
Serves a read-only fleet page until SIGINT or SIGTERM: every device (online, version, phase, health, last
result and error code, last seen, inventory; offline ones in red), the devices per version, each channel's
rollout (share, devices updated, failed, pending) with a live chart, recent events, and a device's history on
click. Statuses and events come from the broker as for fleet --watch; channel pointers (and their rollout
share) from REPO_DIR, read again every 2 s. The page needs no network but this server (uPlot is served from it).
JSON: GET /api/snapshot, GET /api/devices/ID/history, and GET /api/events (server-sent events: a "snapshot",
then an "update" with what changed, at most every 300 ms).
Listens on 127.0.0.1:8080 unless --host / --port say otherwise (port 0 picks a free port). A host other than
loopback is refused unless --token T (at least 16 characters; open the page as /?token=T or send
Authorization: Bearer T) or --basic-auth USER:PASS protects it. Prints the URL (--json: {"url", "port"}).
${MQTT_HELP}`,
  watch: `Usage: edge-publish watch --models DIR --repo REPO_DIR --key PRIVATE_KEY --channel CHANNEL --name NAME
                          [--stable-ms N] [--deltas N] [--mqtt URL [MQTT_OPTIONS]]
Watches DIR, where training drops each model version as DIR/<version>/ (a semantic version, e.g. DIR/1.4.0/).
A version folder is complete when it holds a file named .complete (write it last; it is not bundled) or when
nothing in it has changed for --stable-ms milliseconds (default 10000), whichever comes first. Each complete
new version is built (as edge-publish build) and the channel pointed at it (as edge-publish publish, also to
the broker with --mqtt), one at a time, lowest version first. Versions already in the repository when watch
starts are skipped; other folder names are ignored with a warning (hidden ones, like .tmp-1.4.0/, silently:
write there and rename into place). A failed build publishes nothing and is logged with its code; the folder
is tried again after it changes. A version lower than the channel's is built but does not move the channel.
Before the publish, deltas are made (as edge-publish delta) from the release the channel points at and from
the --deltas N newest built versions below the new one (default 2; 0 makes none); a failed delta never stops
the publish. Logs are JSON lines on stdout. Runs until SIGINT or SIGTERM,
which finish the version in hand (build and publish) and exit 0; a second Ctrl-C exits at once.
${MQTT_HELP}`,
  promote: `Usage: edge-publish promote --repo REPO_DIR --name NAME --version SEMVER --from CHANNEL --to CHANNEL
                            --key PRIVATE_KEY [--percent P] [--expires-days N] [--force] [--mqtt URL [MQTT_OPTIONS]]
                            [--require-healthy-hours H --min-devices N --max-failure-rate R [--wait-ms N]] [--reason TEXT] [--by NAME] [--json]
Points --to at SEMVER only if --from names SEMVER right now (else RELEASE_NOT_FOUND), with the next sequence
number of --to. The rollout share of --from is not copied: --to reaches every device unless --percent says less.
A withdrawn version is refused with VERSION_WITHDRAWN unless --force.
--require-healthy-hours H --min-devices N --max-failure-rate R (0.05 or 5%; the three go together, with --mqtt):
first reads every device's retained status from the broker (waiting as fleet does, at most --wait-ms, default
2000) and promotes only when at least N devices on --from run SEMVER with at least H healthy hours each and,
of the devices on --from that tried SEMVER, the share that rolled back from it or deny-listed it is at most R.
Else nothing is written: PROMOTION_REFUSED, exit 1, with the figures (devices running it, how many qualify, healthy
hours in sum and the least, failure rate); --json prints {"promoted": false, "error", "evidence"}. The history of
--to (channels/NAME/TO.history.json) records --from and its sequence, --by (default: the OS user), --reason, and the figures.
${MQTT_HELP}`,
  channels: `Usage: edge-publish channels --repo REPO_DIR [--name NAME] [--warn-days N] [--json]
Lists every channel pointer in the repository (of NAME only with --name): NAME, CHANNEL, VERSION, SEQUENCE,
ROLLOUT (share, "paused") and EXPIRES ("EXPIRED" once past, "in N days" within --warn-days, default 7), then a
warning line for each such pointer and for each withdrawal list (withdrawals/NAME.json) that is EXPIRED or
expires within --warn-days (an expired list fails every device's channel check). --json adds expired,
expiresSoon and daysLeft per pointer, "withdrawalLists" (name, sequence, entries, expiry) and "warnings".
Unreadable pointers and lists are reported on stderr.
`,
  refresh: `Usage: edge-publish refresh --repo REPO_DIR --key PRIVATE_KEY [--before-days N] [--expires-days N] [--name NAME]
                            [--dry-run] [--mqtt URL [MQTT_OPTIONS]] [--json]
Re-signs every channel pointer (of NAME only with --name) that expires within --before-days days (default 7)
or already expired: same release, same rollout share, the next sequence number, a new expiry --expires-days
ahead (default 30, as publish). Every withdrawal list (withdrawals/NAME.json) due the same way is re-signed
too: the same entries, the next sequence, a new expiry (an expired list fails every device's channel check).
Others are left alone. With --mqtt each re-signed pointer and list is also published (retained) as publish
--mqtt and withdraw --mqtt do. --dry-run lists what would be re-signed and writes nothing. --json lists both:
"refreshed" and "kept" (pointers), "withdrawalLists": {"refreshed", "kept"}, and "problems".
Refused, with nothing written: a key the newest keys document does not list (or, without keys documents, a key
that did not sign the pointer or list) with KEY_UNTRUSTED; a pointer whose release.json no longer has the
digest it names, with DIGEST_MISMATCH. Exit 0, or 1 when a pointer or list file could not be read (listed on
stderr; the others are still re-signed).
Meant for a daily timer: packaging/systemd/edgepull-refresh.timer.
${MQTT_HELP}`,
  rollout: `Usage: edge-publish rollout --repo REPO_DIR --name NAME --channel CHANNEL --key PRIVATE_KEY
                            (--percent P [--version SEMVER] | --pause | --resume | --abort [--to SEMVER])
                            [--expires-days N] [--force] [--mqtt URL [MQTT_OPTIONS]] [--json]
       edge-publish rollout ... --percent P --halt-on-failures RATE --min-devices N --mqtt URL [--watch-seconds S]
Each change is a new signed pointer with the next sequence number (also sent to the broker with --mqtt).
--percent P: the share of devices (0-100) that take the channel's release; with --version, the channel moves
to SEMVER at that share. A device's place is a stable hash of its id and the release, so raising the share
only adds devices. --pause / --resume: devices not yet on the release wait / go on.
--percent refuses a withdrawn version (VERSION_WITHDRAWN) unless --force.
--abort: points the channel at 100 % back at the last release that was healthy on it; devices that took the
aborted release go back as an ordinary update. From channels/NAME/CHANNEL.history.json (every pointer the
publisher writes): healthy = carried at 100 % and not paused, not aborted or halted since, not withdrawn. The
aborted version is recorded there, so no later abort returns to it. Only where the history has a gap before
the current pointer and knows no healthy release, the highest built version below the current one that is
neither withdrawn nor aborted. --to SEMVER: go back to that built release instead (not a withdrawn one
unless --force). With no healthy release known: NO_PREVIOUS_VERSION.
--halt-on-failures RATE (0.2 or 20%): after setting the share, watches device events for the release; once at
least --min-devices devices reported a final result and failed/reported exceeds RATE, aborts (as --abort),
says so and exits 1. Otherwise stops after --watch-seconds (default 600) or Ctrl-C and exits 0.
${MQTT_HELP}`,
  keys: `Usage: edge-publish keys init --repo REPO_DIR --key PRIVATE_KEY [--json]
       edge-publish keys rotate --repo REPO_DIR --key PRIVATE_KEY [--add PUBLIC_KEY]... [--remove KEYID]... [--json]
init writes keys/1.json listing the key's public key, signed by it.
rotate writes keys/(n+1).json: the keys of keys/n.json plus each --add (a .pub file), minus each --remove
(a keyid or a unique prefix of at least 8 hex digits), signed by --key, which must be listed in keys/n.json
(else KEY_UNTRUSTED). A document with no key left is refused. Devices enter the chain at the lowest document
a key they shipped with signs (or, with none, trust a shipped key the newest document lists), follow it to
the newest, and trust only its keys for new metadata: ship new devices with a key the newest document lists.
Never delete a keys document: devices shipped with an older key walk the chain from it.
`,
  withdraw: `Usage: edge-publish withdraw --repo REPO_DIR --name NAME --version SEMVER --reason TEXT --key PRIVATE_KEY
                             [--keep-running] [--expires-days N] [--mqtt URL [MQTT_OPTIONS]] [--json]
Adds SEMVER to withdrawals/NAME.json, a signed list with the next sequence number and an expiry (default 30
days), written atomically; with --mqtt also sent to edgepull/v1/NAME/withdrawals (retained, QoS 1).
Devices fetch it with every channel check: they never install a withdrawn version, and a device running it
moves to its channel's release, older or not (--keep-running: it stays and reports WITHDRAWN with the reason).
Channel pointers naming SEMVER are not changed: they are listed, so move them with rollout --abort.
A rerun with the same reason and choice writes nothing (the list is pushed again with --mqtt); with
--expires-days it re-signs the list with a new expiry, which is how to renew it before it expires.
${MQTT_HELP}`,
  inspect: `Usage: edge-publish inspect BUNDLE|RELEASE_DIR|URL [--keys PUBLIC_KEY]... [--json]
Shows name, version, compatibility, every payload file (size, SHA-256, mode), the deltas offered and who signed
what, reading only metadata: of a bundle, its first entry (manifest.json), so a bundle with a damaged payload
still inspects. RELEASE_DIR is a releases/NAME/VERSION/ folder; URL is http(s) to such a folder or to its
release.json (the bundle's download is cancelled once manifest.json has arrived). For both, the signed
release.json is shown too, and whether the bundle's manifest.json agrees with it. Each signature is "valid" or "INVALID" against the
--keys given (publisher.pub files), or not checked when no given key has its keyid. Exit 0 whatever the
signatures say: edge-publish verify is the verdict.
`,
  verify: `Usage: edge-publish verify BUNDLE --keys PUBLIC_KEY [--keys PUBLIC_KEY]... [--json]
Checks a bundle offline exactly as a device does before installing it, writing nothing: manifest.json signed by
one of --keys, every entry allowed (no links, devices, unsafe paths or entries the manifest does not list),
SHA256SUMS and every file's size and SHA-256 against the signed manifest. The payload is hashed as it streams,
never unpacked. Exit 0 when it passes; 1 with the device's error code (DIGEST_MISMATCH, KEY_UNTRUSTED,
PATH_UNSAFE, ...) when it does not; --json prints {"ok": false, "error": {"code", "message"}, ...} then.
`,
  completion: `Usage: edge-publish completion (bash | zsh)
Prints the completion script for the shell. The .deb installs both; by hand:
edge-publish completion bash > /etc/bash_completion.d/edge-publish
`,
  releases: `Usage: edge-publish releases --repo REPO_DIR [--name NAME] [--json]
Lists every built release (of NAME only with --name), oldest version first: NAME, VERSION, CREATED, FILES,
BUNDLE (bytes), DELTAS FROM (base version and bytes), CHANNELS (each channel whose pointer names the release,
with its rollout share) and WITHDRAWN (date and reason, from the signed withdrawals/NAME.json).
Unreadable release manifests, pointers and withdrawal lists are reported on stderr.
`,
};

export const PUBLISHER_CLI: CliSpec<CommandName> = {
  program: "edge-publish",
  common: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  commands: COMMAND_OPTIONS,
  withArguments: ["build", "keys", "inspect", "verify", "completion"],
  help: HELP,
  positionalWords: { keys: ["init", "rotate"], completion: ["bash", "zsh"] },
};

export function required(value: string | undefined, flag: string, command: CommandName): string {
  if (value === undefined || value === "") {
    throw new EdgeError("USAGE", `${command} needs --${flag} (see edge-publish ${command} --help)`);
  }
  return value;
}

// Shared with edge-agent, which refuses a bad --limit the same way.
export { integerFlag } from "../shared/cli-options.js";

export function positiveNumberFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0) {
    throw new EdgeError("USAGE", `--${flag} must be a positive number (found ${JSON.stringify(value)})`);
  }
  return n;
}

function listFlag(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

export function compatibilityFlags(arch: string | undefined, labels: string | undefined): Compatibility | undefined {
  const out: Compatibility = {};
  const a = listFlag(arch);
  const unknown = a?.find((name) => !isKnownArch(name));
  if (unknown !== undefined) {
    throw new EdgeError(
      "USAGE",
      `--arch: ${JSON.stringify(unknown)} is not an architecture a device reports (one of ${NODE_ARCHES.join(", ")}; or ${Object.keys(ARCH_ALIASES).join(", ")})`,
    );
  }
  const l = listFlag(labels);
  if (a && a.length > 0) out.arch = a;
  if (l && l.length > 0) out.labels = l;
  return out.arch || out.labels ? out : undefined;
}
