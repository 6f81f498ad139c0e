import { formatBytes } from "./context.js";

/** How an update arrived, as status and history show it. */
export interface DeliveryFacts {
  delivery: string | null;
  deltaFrom: string | null;
  deltaFallback: { code: string; message: string } | null;
  bytesSaved: number;
}

/** One line for `status`: the delta and what it saved, or why the bundle came instead. */
export function describeDelivery(d: DeliveryFacts): string {
  if (d.delivery === "delta") {
    const saved = d.bytesSaved > 0 ? `, ${formatBytes(d.bytesSaved)} less than the bundle` : "";
    return `delta from ${d.deltaFrom}${saved}`;
  }
  if (d.deltaFallback) return `full bundle (delta not used: ${d.deltaFallback.code}: ${d.deltaFallback.message})`;
  return d.delivery === "bundle" ? "full bundle" : "-";
}

/** A short cell for the `history` table. */
export function shortDelivery(d: DeliveryFacts): string {
  if (d.delivery === "delta") return d.bytesSaved > 0 ? `delta (-${formatBytes(d.bytesSaved)})` : "delta";
  if (d.deltaFallback) return `bundle (${d.deltaFallback.code})`;
  return d.delivery ?? "-";
}

type HandoverFacts = { outcome: string; reason: string | null; detail: string | null } | null;

/** A short cell for the `history` table: how the version took over (restart mode: "restart"). */
export function shortHandover(h: HandoverFacts): string {
  if (!h) return "restart";
  return h.outcome === "skipped" ? `HANDOVER_SKIPPED: ${h.reason}` : h.outcome;
}

/** One line for `status`; a restart in place is never called a hand-over. */
export function describeHandover(h: HandoverFacts): string | undefined {
  if (!h) return undefined;
  switch (h.outcome) {
    case "switched":
      return `hand-over: started beside the serving version, switched between two requests (${h.detail ?? ""})`;
    case "skipped":
      return `HANDOVER_SKIPPED: ${h.reason}: restarted in place, 503 + Retry-After while it loaded (${h.detail ?? ""})`;
    case "cold":
      return "nothing served before: 503 + Retry-After while it loaded";
    default:
      return h.outcome;
  }
}
