// The fleet page. Device ids, versions and error messages come from devices and
// are hostile input: every one of them reaches the page through textContent or
// setAttribute, never as markup.
import { loadHistory } from "./device-detail.js";
import { ago, api, el, FAILED, healthText, inventoryText, resultText, text } from "./dom.js";
import { redrawCharts, renderRollouts } from "./rollout-chart.js";

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

let renderQueued = false;
function render() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderCounts();
    renderVersions();
    renderRollouts(state);
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
  if (state.selected && u.devices.some((d) => d.deviceId === state.selected)) void loadHistory(state, state.selected);
}

function select(id) {
  state.selected = id;
  void loadHistory(state, id);
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
    // CLOSED: the server answered but refused the stream (a missing or wrong token); the browser gives up.
    status.textContent =
      source.readyState === EventSource.CLOSED
        ? "the dashboard refused the live stream: open it with its token (/?token=T)"
        : "connection lost, reconnecting…";
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
  redrawCharts(state);
}, 5000);
connect();
