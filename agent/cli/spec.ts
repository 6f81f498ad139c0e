import type { CliSpec, OptionTable } from "../../shared/cli-options.js";
import { DEFAULT_CONFIG_PATH } from "../config/default-path.js";

/** What `edge-agent` accepts: commands, their own options and help texts. No side effects here. */

const VERBOSE = { verbose: { type: "boolean", short: "v" } } as const;
const DRY_RUN = { "dry-run": { type: "boolean" } } as const;

/** Each command's own options (besides --config, --json and --help). */
const COMMANDS = {
  run: {},
  status: {},
  history: { limit: { type: "string" } },
  verify: { version: { type: "string" } },
  check: { ...VERBOSE, ...DRY_RUN },
  rollback: VERBOSE,
  allow: { all: { type: "boolean" } },
  hold: { reason: { type: "string" } },
  "release-hold": {},
  install: { ...VERBOSE, ...DRY_RUN },
  config: {},
  completion: {},
} as const satisfies Record<string, OptionTable>;

/** `history --limit`'s bounds: the parser refuses anything else before the journal is opened. */
export const HISTORY_LIMIT = [1, 1_000_000] as const;

export type AgentCommand = keyof typeof COMMANDS;

export const HELP: Record<AgentCommand | "", string> = {
  "": `edge-agent: pull-based model updates for this device

Usage: edge-agent <command> [--config FILE] [options]

Commands:
  run        run the update daemon (polls, installs, health-checks, rolls back)
  status     what runs, what happened and why (works with the daemon down)
  history    past updates with results, error codes, timings and bytes
  verify     re-hash the active version against its signed manifest
  check      poll once now, install anything new, exit with the result
  rollback   go back to the previous version, health-checked like an update
  allow      take a version off the deny-list (VERSION or --all)
  hold       hold updates while servicing the device (--reason TEXT)
  release-hold lift the hold: updates start again
  install    install a bundle from a file or folder (offline), verified and health-checked
  config     config check: validate the config file without starting anything
  completion print the shell completion script (bash or zsh)

Every command takes --config FILE (default ${DEFAULT_CONFIG_PATH}) and --help.
Exit codes: 0 ok/healthy, 1 failed/degraded, 2 usage or configuration error, 3 device busy.
edge-agent --version prints the version.
`,
  run: "Usage: edge-agent run [--config FILE]\nRuns the daemon in the foreground; logs JSON to stdout; stops on SIGTERM or SIGINT.\n",
  status:
    "Usage: edge-agent status [--config FILE] [--json]\nDevice, active and previous version, phase, last check, last update, deny-list, service health now, free disk.\nExit 0 when healthy, 1 when degraded (the problems are listed).\n",
  history:
    "Usage: edge-agent history [--config FILE] [--json] [--limit N]\nPast updates, newest first: from, to, result, error code, timings, bytes.\n",
  verify:
    "Usage: edge-agent verify [--config FILE] [--json] [--version V]\nRe-hashes the active version (or V) against its signed manifest; exit 1 and the differing files when it does not match.\n",
  check:
    "Usage: edge-agent check [--config FILE] [--json] [--verbose] [--dry-run]\nPolls the channel once, installs anything new, exits 0 when up to date or updated, 1 when the update failed.\nUses the running daemon when there is one.\n--dry-run: every check up to and including staging verification (download, signatures, digests, disk and memory,\ncompatibility, policy), then removes what it wrote and says what would happen; the active version and the journal\nare never touched. Exit 0 when the update would go ahead (or nothing is new), 1 when not.\n",
  rollback:
    "Usage: edge-agent rollback [--config FILE] [--json] [--verbose]\nReturns to the previous version with the same health check as an update. The version left is deny-listed until allowed again.\n",
  hold: "Usage: edge-agent hold [--reason TEXT] [--config FILE] [--json]\nNo new update starts until edge-agent release-hold (an attempt already running finishes).\n",
  "release-hold": "Usage: edge-agent release-hold [--config FILE] [--json]\nLifts the hold set by edge-agent hold.\n",
  install:
    "Usage: edge-agent install BUNDLE_OR_FOLDER [--config FILE] [--json] [--verbose] [--dry-run]\nInstalls a bundle carried to the device (USB stick, laptop): its signed manifest must be signed by a trusted key; staged, verified, health-checked and rolled back exactly like a download.\n--dry-run: verifies and stages the bundle in a private folder, removes it and says what would happen; nothing is changed.\n",
  allow: "Usage: edge-agent allow (VERSION | --all) [--config FILE] [--json]\nTakes a version (or all) off the deny-list.\n",
  completion:
    "Usage: edge-agent completion (bash | zsh)\nPrints the completion script for the shell. The .deb installs both; by hand: edge-agent completion bash > /etc/bash_completion.d/edge-agent\n",
  config:
    "Usage: edge-agent config check [--config FILE] [--json]\nValidates the config file without starting anything and lists every problem (JSON syntax errors with line and column).\nExit 0 when valid, 2 when not.\n",
};

export const AGENT_CLI: CliSpec<AgentCommand> = {
  program: "edge-agent",
  common: {
    config: { type: "string", short: "c" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
  commands: COMMANDS,
  withArguments: ["allow", "install", "config", "completion"],
  help: HELP,
  positionalWords: { config: ["check"], completion: ["bash", "zsh"] },
  integers: { history: { limit: HISTORY_LIMIT } },
};
