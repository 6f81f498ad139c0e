import { layoutFor } from "../install/layout.js";
import { openDb } from "../state/db.js";
import { StateStore } from "../state/store.js";
import { type CliContext, EXIT, printJson } from "./context.js";

/**
 * `edge-agent hold [--reason TEXT]` and `edge-agent release-hold`: the
 * technician's switch while servicing a device. A hold stops new updates from
 * starting (polled, pushed or checked); an attempt already running finishes.
 */
export async function holdCommand(ctx: CliContext, on: boolean): Promise<number> {
  const db = openDb(layoutFor(ctx.config.dataDir).dbPath);
  try {
    const store = new StateStore(db);
    const reason = typeof ctx.flags.reason === "string" ? ctx.flags.reason : undefined;
    store.setHold(on ? { reason, at: new Date().toISOString() } : null);
    const configHold = ctx.config.hold;
    if (ctx.json) printJson(ctx, { held: on || configHold, operatorHold: store.hold() ?? null, configHold });
    else if (on) ctx.out(`updates held${reason ? ` (${reason})` : ""}; edge-agent release-hold lifts it\n`);
    else
      ctx.out(
        configHold
          ? "operator hold lifted, but the config still sets hold: true\n"
          : "hold lifted; updates resume at the next check\n",
      );
    return EXIT.OK;
  } finally {
    db.close();
  }
}
