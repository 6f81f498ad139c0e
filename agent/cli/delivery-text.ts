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
