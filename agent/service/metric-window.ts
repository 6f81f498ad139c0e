import { type MetricSample, type MetricText, seriesKey } from "../../shared/prometheus-text.js";

/** One series as a window has seen it. */
export interface WindowSeries {
  name: string;
  labels: Readonly<Record<string, string>>;
  /** The raw value at the latest scrape that had the series. */
  last: number;
  /** How much the counter grew since the window opened, counter resets included. */
  increase: number;
  /** Scrapes after the opening one that had this series. */
  seen: number;
  /** Whether the latest scrape had it (a gauge is read only from the latest scrape). */
  current: boolean;
}

/**
 * What a run of scrapes of one service adds up to since a first one: the
 * increase of every counter and the latest reading of every gauge. Pure and
 * immutable: advanceWindow returns a new window.
 */
export interface MetricWindow {
  series: ReadonlyMap<string, WindowSeries>;
  /** Families named so far (`# TYPE`/`# HELP`, or any sample). */
  families: ReadonlySet<string>;
  /** Scrapes taken in after the opening one. */
  scrapes: number;
}

export const EMPTY_TEXT: MetricText = { samples: [], declared: new Set() };

/** The window's start: every series' value now is its starting point (increase 0). */
export function openWindow(start: MetricText): MetricWindow {
  const series = new Map<string, WindowSeries>();
  for (const s of start.samples) {
    series.set(seriesKey(s.name, s.labels), {
      name: s.name,
      labels: s.labels,
      last: s.value,
      increase: 0,
      seen: 0,
      current: true,
    });
  }
  return { series, families: familiesOf(start), scrapes: 0 };
}

/**
 * Takes one more scrape in. A counter lower than before was reset (the
 * process restarted): everything it shows now is new, as Prometheus'
 * increase() counts it. A series the opening scrape lacked counts from 0: it
 * appeared inside the window (an error counter gets its first child with the
 * first error, and that error must count).
 */
export function advanceWindow(window: MetricWindow, scrape: MetricText): MetricWindow {
  const series = new Map<string, WindowSeries>();
  for (const [key, s] of window.series) series.set(key, { ...s, current: false });
  for (const sample of scrape.samples) {
    const key = seriesKey(sample.name, sample.labels);
    const before = series.get(key);
    series.set(key, advanceSeries(before, sample));
  }
  const families = new Set(window.families);
  for (const f of familiesOf(scrape)) families.add(f);
  return { series, families, scrapes: window.scrapes + 1 };
}

function advanceSeries(before: WindowSeries | undefined, sample: MetricSample): WindowSeries {
  if (!before) {
    return { name: sample.name, labels: sample.labels, last: sample.value, increase: sample.value, seen: 1, current: true };
  }
  const grew = sample.value >= before.last ? sample.value - before.last : sample.value;
  // NaN compares false both ways and lands in `grew` as NaN: it stays visible rather than reading as 0.
  return { ...before, last: sample.value, increase: before.increase + grew, seen: before.seen + 1, current: true };
}

function familiesOf(text: MetricText): Set<string> {
  const names = new Set(text.declared);
  for (const s of text.samples) names.add(s.name);
  return names;
}

/** Whether a family is known to the service: declared, or seen with samples (its own name or a histogram's parts). */
export function hasFamily(window: MetricWindow, name: string): boolean {
  if (window.families.has(name)) return true;
  const base = name.replace(/_(total|bucket|count|sum)$/, "");
  return window.families.has(base);
}
