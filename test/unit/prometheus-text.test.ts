import { describe, expect, it } from "vitest";
import { labelsMatch, parseMetricText, parseSelector, seriesKey } from "../../shared/prometheus-text.js";

function samples(text: string) {
  const parsed = parseMetricText(text);
  if (!parsed.ok) throw new Error(parsed.problem);
  return parsed.text.samples;
}

describe("parseMetricText (exposition format 0.0.4)", () => {
  it("reads samples, skips comments, records declared families", () => {
    const parsed = parseMetricText(
      [
        "# HELP http_requests_total Requests, by code.",
        "# TYPE http_requests_total counter",
        "# a free comment",
        'http_requests_total{method="post",code="200"} 1027 1395066363000',
        'http_requests_total{method="post",code="400"}    3 1395066363000',
        "",
        "# TYPE errors_total counter",
        "metric_without_labels 12.47",
        "   indented_metric 1",
      ].join("\n"),
    );
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.text.samples).toEqual([
      { name: "http_requests_total", labels: { method: "post", code: "200" }, value: 1027 },
      { name: "http_requests_total", labels: { method: "post", code: "400" }, value: 3 },
      { name: "metric_without_labels", labels: {}, value: 12.47 },
      { name: "indented_metric", labels: {}, value: 1 },
    ]);
    // A family declared without samples (a labelled counter with no child yet) is known.
    expect([...parsed.text.declared].sort()).toEqual(["errors_total", "http_requests_total"]);
  });

  it.each([
    ["NaN", Number.NaN],
    ["+Inf", Number.POSITIVE_INFINITY],
    ["-Inf", Number.NEGATIVE_INFINITY],
    ["Inf", Number.POSITIVE_INFINITY],
    ["1.5e-3", 0.0015],
    ["-2", -2],
    [".5", 0.5],
    ["1e+06", 1e6],
  ])("value %s", (text, value) => {
    expect(samples(`m ${text}`)[0]?.value).toEqual(value);
  });

  it("unescapes label values and allows a trailing comma and spaces", () => {
    const [s] = samples(
      'msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\"",} 1.458255915e9',
    );
    expect(s?.labels).toEqual({ path: "C:\\DIR\\FILE.TXT", error: 'Cannot find file:\n"FILE.TXT"' });
    expect(samples('m{ a = "x" , b="y" } 2')[0]?.labels).toEqual({ a: "x", b: "y" });
    expect(samples('m{a="{}, ="} 2')[0]?.labels).toEqual({ a: "{}, =" });
  });

  it("reads a histogram's parts as plain series", () => {
    const text = [
      "# TYPE lat histogram",
      'lat_bucket{le="0.05"} 24054',
      'lat_bucket{le="+Inf"} 144320',
      "lat_sum 53423",
      "lat_count 144320",
    ].join("\n");
    expect(samples(text).map((s) => [s.name, s.labels.le ?? null, s.value])).toEqual([
      ["lat_bucket", "0.05", 24054],
      ["lat_bucket", "+Inf", 144320],
      ["lat_sum", null, 53423],
      ["lat_count", null, 144320],
    ]);
  });

  it("accepts CRLF line ends", () => {
    expect(samples("a 1\r\nb 2\r\n").map((s) => s.value)).toEqual([1, 2]);
  });

  it.each([
    ["1abc 1", /no metric name/],
    ["m", /expected a value/],
    ["m{a=b} 1", /must be quoted/],
    ['m{a="x} 1', /not closed/],
    ['m{a="x" b="y"} 1', /expected , or }/],
    ['m{a="\\t"} 1', /unknown escape/],
    ['m{a="1",a="2"} 1', /given twice/],
    ["m one", /is not a number/],
    ["m 1 2 3", /expected a value/],
    ["m 1 soon", /timestamp/],
    ['m{a="1"}2', /expected a value/],
  ])("refuses %j naming the line", (line, problem) => {
    const parsed = parseMetricText(`ok 1\n${line}`);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.problem).toMatch(problem);
    expect(parsed.problem).toMatch(/^line 2:/);
  });
});

describe("parseSelector and labelsMatch", () => {
  it("parses a name with every matcher operator", () => {
    const sel = parseSelector('http_requests_total{route="/predict", code=~"5..", method!="GET", host!~"canary.*"}');
    expect(typeof sel).toBe("object");
    if (typeof sel === "string") return;
    expect(sel.name).toBe("http_requests_total");
    expect(sel.matchers.map((m) => `${m.name}${m.op}${m.value}`)).toEqual([
      "route=/predict",
      "code=~5..",
      "method!=GET",
      "host!~canary.*",
    ]);
    const matches = (labels: Record<string, string>) => labelsMatch(labels, sel.matchers);
    expect(matches({ route: "/predict", code: "500", method: "POST", host: "a" })).toBe(true);
    expect(matches({ route: "/predict", code: "200", method: "POST", host: "a" })).toBe(false);
    // Anchored: "5.." does not match "5000".
    expect(matches({ route: "/predict", code: "5000", method: "POST", host: "a" })).toBe(false);
    expect(matches({ route: "/predict", code: "503", method: "GET", host: "a" })).toBe(false);
    expect(matches({ route: "/predict", code: "503", method: "POST", host: "canary-1" })).toBe(false);
    // A missing label is the empty string.
    expect(labelsMatch({}, [{ name: "x", op: "=", value: "" }])).toBe(true);
  });

  it("takes a bare name", () => {
    expect(parseSelector(" up ")).toEqual({ name: "up", matchers: [], text: "up" });
  });

  it.each([
    ["", /metric name/],
    ['{code="5"}', /metric name/],
    ["m extra", /unexpected/],
    ['m{code="5"} x', /unexpected text/],
    ['m{code=~"("}', /regular expression/],
    ["m{code~5}", /expected/],
  ])("refuses %j", (text, problem) => {
    expect(parseSelector(text)).toMatch(problem);
  });

  it("seriesKey ignores label order", () => {
    expect(seriesKey("m", { b: "2", a: "1" })).toBe(seriesKey("m", { a: "1", b: "2" }));
    expect(seriesKey("m", { a: "1" })).not.toBe(seriesKey("m", { a: "2" }));
  });
});
