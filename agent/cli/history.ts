import { access } from "node:fs/promises";
import { layoutFor } from "../install/layout.js";
import { openDbReadOnly } from "../state/db.js";
import { StateStore } from "../state/store.js";
import { type CliContext, EXIT, formatBytes, formatDuration, printJson, table } from "./context.js";
import { shortDelivery } from "./delivery-text.js";

/** `edge-agent history`: past attempts, newest first, with phase timings. */
export async function historyCommand(ctx: CliContext): Promise<number> {
  const layout = layoutFor(ctx.config.dataDir);
  const limit = Number(ctx.flags.limit ?? 50);
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
    const rows = store.history(Number.isFinite(limit) && limit > 0 ? limit : 50);
    const entries = rows.map((r) => ({
      id: r.id,
      kind: r.kind,
      source: r.source,
      from: r.fromVersion,
      to: r.toVersion,
      result: r.result,
      phase: r.phase,
      errorCode: r.errorCode,
      error: r.errorMessage,
      rollbackErrorCode: r.rollbackErrorCode,
      rollbackError: r.rollbackErrorMessage,
      startedAt: r.startedAt,
      finishedAt: r.finishedAt,
      durationMs: r.finishedAt ? Date.parse(r.finishedAt) - Date.parse(r.startedAt) : null,
      bytesDownloaded: r.bytesDownloaded,
      delivery: r.delivery,
      deltaFrom: r.deltaFrom,
      deltaFallback: r.deltaFallbackCode ? { code: r.deltaFallbackCode, message: r.deltaFallbackMessage ?? "" } : null,
      bytesSaved: r.bytesSaved,
      phases: store.phaseLog(r.id),
    }));
    if (ctx.json) {
      printJson(ctx, entries);
      return EXIT.OK;
    }
    if (entries.length === 0) {
      ctx.out("no updates yet\n");
      return EXIT.OK;
    }
    const head = ["ID", "KIND", "FROM", "TO", "RESULT", "ERROR", "STARTED", "TOOK", "DOWNLOADED", "VIA"];
    const body = entries.map((e) => [
      String(e.id),
      e.kind,
      e.from ?? "-",
      e.to,
      e.result ?? `(${e.phase})`,
      e.errorCode ?? "-",
      e.startedAt.replace("T", " ").replace(/\.\d+Z$/, "Z"),
      formatDuration(e.startedAt, e.finishedAt),
      formatBytes(e.bytesDownloaded),
      shortDelivery(e),
    ]);
    ctx.out(`${table([head, ...body])}\n`);
    return EXIT.OK;
  } finally {
    db.close();
  }
}
