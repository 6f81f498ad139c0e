// Each channel's rollout: its counts and a uPlot chart of updated, failed and pending over time.
// Device ids, versions and error messages come from devices and are hostile
// input: every one of them reaches the page through textContent or
// setAttribute, never as markup.
import { el } from "./dom.js";

const charts = new Map();

function chartData(points) {
  const data = [[], [], [], []];
  for (const p of points) {
    data[0].push(p.t);
    data[1].push(p.updated);
    data[2].push(p.failed);
    data[3].push(p.pending);
  }
  // The last counts hold until now: the line reaches the right edge.
  const last = points.at(-1);
  const now = Date.now() / 1000;
  if (last && now > last.t) {
    data[0].push(now);
    data[1].push(last.updated);
    data[2].push(last.failed);
    data[3].push(last.pending);
  }
  return data;
}

function chartFor(key, box) {
  let chart = charts.get(key);
  if (chart && chart.root.parentElement === box) return chart;
  chart = new uPlot(
    {
      width: Math.max(320, box.clientWidth || 400),
      height: 180,
      scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      series: [
        {},
        { label: "updated", stroke: "#1b7f3b", width: 2 },
        { label: "failed", stroke: "#b00020", width: 2 },
        { label: "pending", stroke: "#c58a00", width: 2 },
      ],
      axes: [{}, { label: "devices" }],
      legend: { live: false },
    },
    [[], [], [], []],
    box,
  );
  charts.set(key, chart);
  return chart;
}

export function renderRollouts(state) {
  const problems = document.getElementById("problems");
  problems.hidden = state.problems.length === 0;
  problems.textContent = state.problems.join("\n");
  const container = document.getElementById("rollouts");
  if (state.channels.length === 0) {
    container.replaceChildren(el("p", { class: "empty" }, "No channel pointers in the repository."));
    charts.clear();
    return;
  }
  const keep = new Set();
  const blocks = state.channels.map((c) => {
    const key = `${c.name}/${c.channel}`;
    keep.add(key);
    let block = container.querySelector(`[data-channel="${CSS.escape(key)}"]`);
    if (!block) {
      block = el(
        "div",
        { class: "rollout", "data-channel": key },
        el("div", { class: "rollout-head" }),
        el("div", { class: "chart" }),
      );
    }
    const share = `${c.rollout.percent} %${c.rollout.paused ? " paused" : ""}`;
    block
      .querySelector(".rollout-head")
      .replaceChildren(
        el("strong", {}, `${c.name} ${c.channel}`),
        el("span", {}, `→ ${c.version} at ${share}`),
        el(
          "span",
          { class: "rollout-counts" },
          el("span", { class: "updated" }, `updated ${c.updated}`),
          el("span", { class: c.failed > 0 ? "failed bad-text" : "failed" }, `failed ${c.failed}`),
          el("span", { class: "pending" }, `pending ${c.pending}`),
          el("span", { class: "outside" }, `outside the share ${c.outside}`),
          el("span", {}, `of ${c.devices}`),
        ),
      );
    return block;
  });
  container.replaceChildren(...blocks);
  for (const key of [...charts.keys()]) if (!keep.has(key)) charts.delete(key);
  redrawCharts(state);
}

export function redrawCharts(state) {
  for (const block of document.querySelectorAll("#rollouts .rollout")) {
    const key = block.getAttribute("data-channel");
    const points = state.series[key] ?? [];
    const box = block.querySelector(".chart");
    // What the chart holds, for people and tests alike.
    box.setAttribute("data-points", String(points.length));
    chartFor(key, box).setData(chartData(points));
  }
}
