// The panel of one device: what it last said, its inventory and its history.
// Device ids, versions and error messages come from devices and are hostile
// input: every one of them reaches the page through textContent or
// setAttribute, never as markup.
import { api, bytes, el, FAILED, healthText, resultText, text } from "./dom.js";

function field(list, name, value) {
  list.append(el("dt", {}, name), el("dd", {}, text(value)));
}

export async function loadHistory(state, id) {
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
