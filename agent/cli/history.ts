import { access } from "node:fs/promises";
import { integerFlag } from "../../shared/cli-options.js";
import { layoutFor } from "../install/layout.js";
import { openDbReadOnly } from "../state/db.js";
import { StateStore } from "../state/store.js";
import { attemptJson } from "../telemetry/attempt-json.js";
import { type CliContext, EXIT, formatBytes, formatDuration, printJson, table } from "./context.js";
import { shortDelivery, shortHandover } from "./delivery-text.js";
import { HISTORY_LIMIT } from "./spec.js";

/** `edge-agent history`: past attempts, newest first, with phase timings. */
export async function historyCommand(ctx: CliContext): Promise<number> {
  const layout = layoutFor(ctx.config.dataDir);
  const limitFlag = ctx.flags.limit;
  const limit = integerFlag(typeof limitFlag === "string" ? limitFlag : undefined, "limit", ...HISTORY_LIMIT) ?? 50;
  const haveDb = await access(layout.dbPath).then(
    () => true,
    () => false,
  );
  if (!haveDb) {
    if (ctx.json) printJson(ctx, []);
    else ctx.out("no updates yet (the agent has not run)\n");
    return EXIT.OK;
  }
  const db = openDbReadOnly(layout.dbPath);
  try {
    const store = new StateStore(db);
    const rows = store.history(limit);
    const entries = rows.map((r) => ({ ...attemptJson(r), phases: store.phaseLog(r.id) }));
    if (ctx.json) {
      printJson(ctx, entries);
      return EXIT.OK;
    }
    if (entries.length === 0) {
      ctx.out("no updates yet\n");
      return EXIT.OK;
    }
    const head = ["ID", "KIND", "FROM", "TO", "RESULT", "ERROR", "STARTED", "TOOK", "DOWNLOADED", "VIA", "SWAP"];
    const body = entries.map((e) => [
      String(e.id),
      e.kind,
      e.fromVersion ?? "-",
      e.toVersion,
      e.result ?? `(${e.phase})`,
      e.errorCode ?? "-",
      e.startedAt.replace("T", " ").replace(/\.\d+Z$/, "Z"),
      formatDuration(e.startedAt, e.finishedAt),
      formatBytes(e.bytesDownloaded),
      shortDelivery(e),
      shortHandover(e.handover),
    ]);
    ctx.out(`${table([head, ...body])}\n`);
    return EXIT.OK;
  } finally {
    db.close();
  }
}
