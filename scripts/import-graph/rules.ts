import { findCycles } from "./cycles.js";
import type { ImportEdge, ImportGraph } from "./graph.js";

/** A top-level part of the repository and the parts it may import. */
export interface Zone {
  name: string;
  prefix: string;
  mayImport: readonly string[];
}

/**
 * A layer inside one zone: a file may import files of its own rank or lower,
 * never higher. `paths` are folder prefixes ("agent/state/") or single files
 * ("agent/main.ts"); the longest match decides a file's layer.
 */
export interface Layer {
  rank: number;
  paths: readonly string[];
  role: string;
}

/** An import the rules forbid but that stays until the named work lands. */
export interface KnownViolation {
  from: string;
  to: string;
  reason: string;
  issue: string;
}

export interface ImportRules {
  zones: readonly Zone[];
  /** Layers of the zone named `layeredZone`; every file of that zone must fall in one. */
  layeredZone: string;
  layers: readonly Layer[];
  known: readonly KnownViolation[];
}

export function zoneOf(file: string, zones: readonly Zone[]): Zone | undefined {
  return zones.find((zone) => file.startsWith(zone.prefix));
}

export function layerOf(file: string, layers: readonly Layer[]): { layer: Layer; path: string } | undefined {
  let best: { layer: Layer; path: string } | undefined;
  for (const layer of layers) {
    for (const path of layer.paths) {
      const matches = path.endsWith("/") ? file.startsWith(path) : file === path;
      if (matches && (best === undefined || path.length > best.path.length)) best = { layer, path };
    }
  }
  return best;
}

/** Why `edge` is forbidden, or undefined when the rules allow it. */
function edgeProblem(edge: ImportEdge, rules: ImportRules): string | undefined {
  const fromZone = zoneOf(edge.from, rules.zones);
  const toZone = zoneOf(edge.to, rules.zones);
  const toName = toZone?.name ?? "a file outside every zone";
  if (fromZone === undefined) return undefined;
  if (toZone === undefined || !fromZone.mayImport.includes(toZone.name)) {
    return `${fromZone.prefix} may import only ${fromZone.mayImport.join(", ")}, not ${toName}`;
  }
  if (fromZone.name !== rules.layeredZone || toZone.name !== rules.layeredZone) return undefined;
  const from = layerOf(edge.from, rules.layers);
  const to = layerOf(edge.to, rules.layers);
  if (from === undefined || to === undefined || to.layer.rank <= from.layer.rank) return undefined;
  return (
    `${from.path} (rank ${from.layer.rank}, ${from.layer.role}) may not import ${to.path} ` +
    `(rank ${to.layer.rank}, ${to.layer.role}): the dependency points upward`
  );
}

const edgeKey = (edge: { from: string; to: string }): string => `${edge.from} -> ${edge.to}`;

/**
 * Every problem in `graph` under `rules`, one line each, sorted: forbidden
 * imports, files of the layered zone in no layer, relative imports of missing
 * files, import cycles, and allow-list entries that no longer match an import
 * (so the list only shrinks).
 */
export function checkImports(graph: ImportGraph, rules: ImportRules): string[] {
  const problems: string[] = [];
  const known = new Map(rules.known.map((entry) => [edgeKey(entry), entry]));
  const seen = new Set<string>();
  for (const edge of graph.edges) {
    const key = edgeKey(edge);
    if (seen.has(key)) continue;
    seen.add(key);
    const problem = edgeProblem(edge, rules);
    if (problem !== undefined && !known.has(key)) problems.push(`${edge.from} imports ${edge.to}: ${problem}`);
  }
  for (const entry of rules.known) {
    const key = edgeKey(entry);
    if (!seen.has(key)) problems.push(`allow-list entry "${key}" matches no import any more: remove it`);
    else if (edgeProblem(entry, rules) === undefined)
      problems.push(`allow-list entry "${key}" is allowed by the rules: remove it`);
  }
  const layered = rules.zones.find((zone) => zone.name === rules.layeredZone);
  for (const file of graph.files) {
    if (layered !== undefined && file.startsWith(layered.prefix) && layerOf(file, rules.layers) === undefined) {
      problems.push(`${file} is in no layer of ${layered.prefix}: add it to the layer table`);
    }
  }
  for (const edge of graph.unresolved) problems.push(`${edge.from} imports ${edge.to}, which does not exist`);
  for (const cycle of findCycles(graph.files, graph.edges)) problems.push(`import cycle: ${cycle.join(" -> ")}`);
  return problems.sort();
}
