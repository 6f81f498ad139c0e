// The fleet page. Device ids, versions and error messages come from devices and
// are hostile input: every one of them reaches the page through textContent or
// setAttribute, never as markup.

const token = new URLSearchParams(location.search).get("token");
/** API paths carry the page's token (an EventSource cannot send headers). */
function api(path) {
  return token ? `${path}?token=${encodeURIComponent(token)}` : path;
}

/** An element with attributes and children; strings become text nodes. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === undefined || child === null) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function text(v) {
  return v === undefined || v === null ? "" : String(v);
}

function ago(iso) {
  if (!iso) return "";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

function bytes(n) {
  if (!n) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

const FAILED = new Set(["failed", "rolled_back"]);
const state = {
  devices: new Map(),
  versions: [],
  channels: [],
  events: [],
  series: {},
  problems: [],
  sort: { key: "deviceId", desc: false },
  filter: "",
  selected: null,
};

function healthText(d) {
  if (!d.online) return "";
  if (!d.health) return "";
  return d.health.ok ? "ok" : `failing${d.health.error ? `: ${d.health.error}` : ""}`;
}

function resultText(d) {
  const r = d.lastResult;
  if (!r) return "";
  return `${text(r.result)} ${text(r.version)}${r.errorCode ? ` (${r.errorCode})` : ""}`.trim();
}

function inventoryText(d) {
  const inv = d.inventory;
  if (!inv) return "";
  const parts = [inv.arch, inv.os];
  if (inv.memory?.totalBytes) parts.push(`${bytes(inv.memory.availableBytes)} / ${bytes(inv.memory.totalBytes)} free`);
  if (inv.temperatureC !== null && inv.temperatureC !== undefined) parts.push(`${inv.temperatureC} °C`);
  return parts.filter(Boolean).join(", ");
}

const SORT_VALUE = {
  deviceId: (d) => d.deviceId,
  online: (d) => (d.online ? 1 : 0),
  channel: (d) => text(d.channel),
  activeVersion: (d) => text(d.activeVersion),
  phase: (d) => text(d.phase),
  health: (d) => healthText(d),
  lastResult: (d) => resultText(d),
  lastSeen: (d) => Date.parse(d.lastSeen) || 0,
  inventory: (d) => inventoryText(d),
};

function sortedDevices() {
  const value = SORT_VALUE[state.sort.key] ?? SORT_VALUE.deviceId;
  const filter = state.filter.toLowerCase();
  const list = [...state.devices.values()].filter(
    (d) =>
      filter === "" ||
      [d.deviceId, d.activeVersion, d.phase, d.channel, resultText(d), healthText(d)].some((v) =>
        text(v).toLowerCase().includes(filter),
      ),
  );
  list.sort((a, b) => {
    const va = value(a);
    const vb = value(b);
    const c = va < vb ? -1 : va > vb ? 1 : a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0;
    return state.sort.desc ? -c : c;
  });
  return list;
}

function renderCounts() {
  let online = 0;
  let failed = 0;
  for (const d of state.devices.values()) {
    if (d.online) online++;
    if (FAILED.has(d.lastResult?.result)) failed++;
  }
  document.getElementById("count-devices").textContent = String(state.devices.size);
  document.getElementById("count-online").textContent = String(online);
  document.getElementById("count-offline").textContent = String(state.devices.size - online);
  document.getElementById("count-failed").textContent = String(failed);
}

function renderDevices() {
  const rows = sortedDevices().map((d) => {
    const tr = el(
      "tr",
      { class: d.online ? "online" : "offline", "data-device-id": d.deviceId, "data-online": String(d.online) },
      el("td", {}, d.deviceId),
      el("td", {}, el("span", { class: `badge ${d.online ? "online" : "offline"}` }, d.online ? "online" : "offline")),
      el("td", {}, text(d.channel)),
      el("td", {}, text(d.activeVersion), d.withdrawn ? el("span", { class: "bad-text" }, " WITHDRAWN") : null),
      el("td", {}, text(d.phase)),
      el("td", { class: d.health && !d.health.ok ? "bad-text" : undefined }, healthText(d)),
      el("td", { class: FAILED.has(d.lastResult?.result) ? "bad-text" : undefined }, resultText(d)),
      el("td", { title: text(d.lastSeen) }, ago(d.lastSeen)),
      el("td", {}, inventoryText(d)),
    );
    tr.addEventListener("click", () => select(d.deviceId));
    return tr;
  });
  document.querySelector("#devices tbody").replaceChildren(...rows);
  for (const th of document.querySelectorAll("#devices th[data-sort]")) {
    th.classList.toggle("sorted", th.dataset.sort === state.sort.key);
    th.classList.toggle("desc", th.dataset.sort === state.sort.key && state.sort.desc);
  }
}

function renderVersions() {
  const rows = state.versions.map((v) =>
    el(
      "tr",
      { "data-version": v.version ?? "" },
      el("td", {}, v.version ?? "(none)"),
      el("td", { class: "devices" }, String(v.devices)),
      el("td", { class: "online" }, String(v.online)),
      el("td", { class: v.failed > 0 ? "bad-text" : undefined }, String(v.failed)),
      el("td", {}, String(v.withdrawn)),
    ),
  );
  document.querySelector("#versions tbody").replaceChildren(...rows);
}

function renderEvents() {
  const items = state.events
    .slice(-100)
    .reverse()
    .map((e) =>
      el(
        "li",
        { class: e.type },
        el("span", { class: "when", title: e.at }, ago(e.at)),
        `${e.deviceId} ${e.type}${e.version ? ` ${e.version}` : ""}${e.errorCode ? ` ${e.errorCode}` : ""}${e.error ? `: ${e.error}` : ""}`,
      ),
    );
  document.getElementById("events").replaceChildren(...items);
}

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

function renderRollouts() {
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
  redrawCharts();
}

function redrawCharts() {
  for (const block of document.querySelectorAll("#rollouts .rollout")) {
    const key = block.getAttribute("data-channel");
    const points = state.series[key] ?? [];
    const box = block.querySelector(".chart");
    // What the chart holds, for people and tests alike.
    box.setAttribute("data-points", String(points.length));
    chartFor(key, box).setData(chartData(points));
  }
}

let renderQueued = false;
function render() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderCounts();
    renderVersions();
    renderRollouts();
    renderDevices();
    renderEvents();
  });
}

function applySnapshot(s) {
  state.devices = new Map(s.devices.map((d) => [d.deviceId, d]));
  state.versions = s.versions;
  state.channels = s.channels;
  state.events = s.events;
  state.series = s.series;
  state.problems = s.problems;
  render();
}

function applyUpdate(u) {
  for (const d of u.devices) state.devices.set(d.deviceId, d);
  for (const id of u.removed) state.devices.delete(id);
  state.versions = u.versions;
  state.channels = u.channels;
  state.problems = u.problems;
  state.events = [...state.events, ...u.events].slice(-200);
  for (const [key, point] of Object.entries(u.points)) {
    state.series[key] = [...(state.series[key] ?? []), point].slice(-2000);
  }
  render();
  if (state.selected && u.devices.some((d) => d.deviceId === state.selected)) void loadHistory(state.selected);
}

function field(list, name, value) {
  list.append(el("dt", {}, name), el("dd", {}, text(value)));
}

async function loadHistory(id) {
  const res = await fetch(api(`api/devices/${encodeURIComponent(id)}/history`));
  if (state.selected !== id) return;
  const panel = document.getElementById("detail");
  document.getElementById("detail-id").textContent = id;
  const fields = document.getElementById("detail-fields");
  const tbody = document.querySelector("#history tbody");
  if (!res.ok) {
    fields.replaceChildren(el("dt", {}, "error"), el("dd", {}, `${res.status}: ${(await res.json()).error?.message ?? ""}`));
    tbody.replaceChildren();
    panel.hidden = false;
    return;
  }
  const { device: d, history } = await res.json();
  fields.replaceChildren();
  field(fields, "online", d.online ? "online" : "offline");
  field(fields, "model", d.name);
  field(fields, "channel", d.channel);
  field(fields, "version", d.activeVersion);
  field(fields, "previous", d.previousVersion);
  field(fields, "agent", d.agentVersion);
  field(fields, "phase", d.phase);
  field(fields, "health", healthText(d));
  field(fields, "last result", resultText(d));
  field(fields, "last seen", `${text(d.lastSeen)} (${d.lastSeenSource})`);
  if (d.withdrawn) field(fields, "withdrawn", `${d.withdrawn.version}: ${d.withdrawn.reason}`);
  if (d.inventory) {
    const inv = d.inventory;
    field(fields, "system", `${inv.os}, kernel ${inv.kernel}, ${inv.arch}`);
    field(fields, "cpu", `${inv.cpu.model} (${inv.cpu.cores} cores)`);
    field(fields, "memory", `${bytes(inv.memory.availableBytes)} free of ${bytes(inv.memory.totalBytes)}`);
    if (inv.disk)
      field(fields, "disk", `${inv.disk.mount}: ${bytes(inv.disk.availableBytes)} free of ${bytes(inv.disk.sizeBytes)}`);
  }
  tbody.replaceChildren(
    ...history
      .slice()
      .reverse()
      .map((h) =>
        el(
          "tr",
          { class: FAILED.has(h.type) || h.type === "offline" ? "bad-text" : undefined },
          el("td", { title: h.at }, h.at),
          el("td", {}, h.type),
          el("td", {}, text(h.version)),
          el("td", {}, text(h.phase)),
          el("td", {}, text(h.errorCode)),
          el("td", {}, text(h.error)),
        ),
      ),
  );
  panel.hidden = false;
}

function select(id) {
  state.selected = id;
  void loadHistory(id);
}

function connect() {
  const status = document.getElementById("connection");
  const source = new EventSource(api("api/events"));
  source.addEventListener("snapshot", (e) => {
    applySnapshot(JSON.parse(e.data));
    status.textContent = "live";
    status.className = "connection live";
  });
  source.addEventListener("update", (e) => applyUpdate(JSON.parse(e.data)));
  source.addEventListener("error", () => {
    status.textContent = "connection lost, reconnecting…";
    status.className = "connection lost";
  });
}

for (const th of document.querySelectorAll("#devices th[data-sort]")) {
  th.addEventListener("click", () => {
    const key = th.dataset.sort;
    state.sort = { key, desc: state.sort.key === key ? !state.sort.desc : false };
    renderDevices();
  });
}
document.getElementById("filter").addEventListener("input", (e) => {
  state.filter = e.target.value;
  renderDevices();
});
document.getElementById("detail-close").addEventListener("click", () => {
  state.selected = null;
  document.getElementById("detail").hidden = true;
});
// "3 s ago" goes stale, and the chart's last segment reaches now.
setInterval(() => {
  renderDevices();
  renderEvents();
  redrawCharts();
}, 5000);
connect();
