import { EdgeError } from "../../shared/errors.js";
import { layoutFor } from "../install/layout.js";
import { openDb } from "../state/db.js";
import { StateStore } from "../state/store.js";
import { type CliContext, EXIT, printJson } from "./context.js";

/** `edge-agent allow VERSION | --all`: takes versions off the deny-list so they may be installed again. */
export async function allowCommand(ctx: CliContext): Promise<number> {
  const version = ctx.positionals[0];
  const all = ctx.flags.all === true;
  if (!version && !all) throw new EdgeError("USAGE", "name a VERSION to allow again, or --all");
  // A single small write: safe beside a running daemon (WAL, busy timeout).
  const db = openDb(layoutFor(ctx.config.dataDir).dbPath);
  try {
    const cleared = new StateStore(db).clearDenied(all ? undefined : version);
    if (ctx.json) printJson(ctx, { cleared });
    else ctx.out(cleared > 0 ? `cleared ${cleared} deny-list entr${cleared === 1 ? "y" : "ies"}\n` : "nothing to clear\n");
    return cleared > 0 || all ? EXIT.OK : EXIT.FAILED;
  } finally {
    db.close();
  }
}
