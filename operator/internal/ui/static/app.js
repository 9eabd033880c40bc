// The live view: one EventSource per page, re-opened when the selected group
// (the URL's #namespace/name) changes. Everything shown comes from the
// operator's last round; the page never calls pods.
"use strict";

const $ = (id) => document.getElementById(id);
let stream = null;

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "data") Object.assign(e.dataset, v);
    else if (k === "class") e.className = v;
    else e[k] = v;
  }
  e.append(...children);
  return e;
}

function selected() {
  return decodeURIComponent(location.hash.slice(1));
}

function connect() {
  if (stream) stream.close();
  const group = selected();
  stream = new EventSource("api/stream?group=" + encodeURIComponent(group));
  stream.onmessage = (ev) => render(JSON.parse(ev.data));
  stream.onerror = () => { $("status").textContent = "connection lost, reconnecting…"; };
}

function render(view) {
  const at = new Date(view.at).toLocaleTimeString();
  $("status").textContent = (view.collecting
    ? "updated " + at
    : "updated " + at + " · this replica does not collect links (not the leader): run make ui again: it forwards to the leader");
  renderGroups(view.groups);
  const g = view.group;
  $("group").hidden = !g;
  if (g) renderGroup(g);
}

function renderGroups(groups) {
  const body = $("groups").tBodies[0];
  body.replaceChildren(...groups.map((g) => {
    const key = g.namespace + "/" + g.name;
    const tr = el("tr", { class: key === selected() ? "selected" : "", title: g.message || g.reason || "" },
      el("td", {}, el("span", { class: "dot " + g.health })),
      el("td", {}, key),
      el("td", {}, g.links || "–"),
      el("td", {}, g.p99 || "–"),
      el("td", {}, g.suspect || ""),
      el("td", {}, g.ready));
    tr.dataset.group = key;
    tr.onclick = () => { location.hash = key; };
    return tr;
  }));
}

function renderGroup(g) {
  $("group-title").textContent = g.namespace + "/" + g.name + " · every " + g.interval;
  $("group-health").textContent = "LinksHealthy=" + g.health + (g.reason ? " (" + g.reason + ")" : "") + (g.message ? ": " + g.message : "");
  $("suspects").replaceChildren(...(g.suspects || []).map((s) =>
    el("li", { class: (s.severity || "Down").toLowerCase(), title: s.note || "" },
      el("b", {}, (s.severity || "Down") + " "), s.kind + " " + s.name + (s.node ? " on " + s.node : "") + ": " +
      describeReason(s) + ", " + s.reportedBy + " links agree" + (s.loss ? ", " + s.loss + " retransmitted" : "") +
      (s.note ? " (" + s.note + ")" : ""))));
  $("no-suspects").hidden = (g.suspects || []).length > 0;
  const m = g.matrix;
  if (!m) {
    $("matrix-caption").textContent = "No round yet: the operator fetches /links from every pod once per interval.";
    $("matrix").replaceChildren();
    return;
  }
  renderMatrix(m);
}

function describeReason(s) {
  const ways = { "CannotReach": "cannot send", "Unreachable": "cannot be reached", "CannotReach,Unreachable": "both ways" };
  return (s.severity === "Degraded" ? "lossy " : "") + (ways[s.reason] || s.reason);
}

// lossOf is a cell's retransmitted fraction, when enough was retransmitted
// to say (3 segments or more).
function lossOf(c) {
  return c && c.segments && (c.retransmits || 0) >= 3 ? c.retransmits / c.segments : 0;
}

// stateOf is a cell's colour: down first, then loss (the retransmits TCP
// hid), then latency against the group's own median p99, grey when nothing
// is measured.
function stateOf(c, median) {
  if (!c) return "none";
  const up = c.up || 0, down = c.down || 0;
  if (down > 0) return down === up + down ? "down" : "partial";
  if (up === 0) return c.unreported ? "unreported" : "unmeasured";
  const loss = lossOf(c);
  if (loss >= 0.10) return "lossier";
  if (loss >= 0.02) return "lossy";
  if (median > 0 && c.p99Ms > 5 * median) return "slower";
  if (median > 0 && c.p99Ms > 2 * median) return "slow";
  return "up";
}

function fraction(t) {
  if (!t.measured) return "";
  return Math.round((100 * t.down) / t.measured) + "%";
}

// placeLabel names a row (a pod's with its node); columns are narrow, so a
// pod's column shows only the part after its last "-" (its ReplicaSet's
// pods share the rest).
function placeLabel(p, level, short) {
  if (level === "Zone") return p.name || "(no zone)";
  if (level === "Node") return (p.name || "(no node)") + " (" + p.pods + ")";
  if (short) return p.name.slice(p.name.lastIndexOf("-") + 1);
  return p.name + (p.node ? " · " + p.node : "");
}

// edge: the separator before place i (zone, then node boundaries).
function edge(places, i, level) {
  if (i === 0) return "";
  const a = places[i - 1], b = places[i];
  if (level !== "Zone" && a.zone !== b.zone) return "zone";
  if (level === "Pod" && a.node !== b.node) return "node";
  return "";
}

function renderMatrix(m) {
  const places = m.places || [];
  const n = places.length;
  $("matrix-caption").textContent = n + " " + m.level.toLowerCase() + (n === 1 ? "" : "s") +
    " · rows ping columns · median p99 " + m.medianP99Ms.toFixed(2) + "ms" +
    (m.waiting ? " · " + m.waiting + " pods not counted yet (new, not Ready or terminating)" : "");
  const cells = new Map();
  for (const c of m.cells || []) cells.set(c.from * n + c.to, c);
  const grid = $("matrix");
  // Small groups get bigger cells; 60 places of 14px still fit a laptop.
  const size = n <= 12 ? 28 : n <= 30 ? 20 : 14;
  grid.style.setProperty("--cell", size + "px");
  grid.style.gridTemplateColumns = "auto repeat(" + n + ", " + size + "px) auto";
  const out = [el("div", { class: "head" }, "from ↓ to →")];
  places.forEach((p, j) => {
    const e = edge(places, j, m.level);
    out.push(el("div", { class: "head col" + (e ? " c-" + e : ""), title: describePlace(p) }, el("span", {}, placeLabel(p, m.level, true))));
  });
  out.push(el("div", { class: "head margin" }, "fails"));
  places.forEach((from, i) => {
    const re = edge(places, i, m.level);
    out.push(el("div", { class: "head row" + (re ? " r-" + re : ""), title: describePlace(from) }, placeLabel(from, m.level)));
    places.forEach((to, j) => {
      const c = cells.get(i * n + j);
      const state = m.level === "Pod" && i === j ? "self" : stateOf(c, m.medianP99Ms);
      const ce = edge(places, j, m.level);
      const cls = "cell" + (re ? " r-" + re : "") + (ce ? " c-" + ce : "");
      out.push(el("div", { class: cls, role: "gridcell", data: { from: from.name, to: to.name, state: state },
        title: describeCell(from, to, c, state) }));
    });
    out.push(el("div", { class: "margin" + (from.out.down ? " bad" : ""), title: "outbound links down" }, fraction(from.out)));
  });
  out.push(el("div", { class: "head margin" }, "fails"));
  places.forEach((p) => out.push(el("div", { class: "margin col" + (p.in.down ? " bad" : ""), title: "inbound links down" }, el("span", {}, fraction(p.in)))));
  out.push(el("div"));
  grid.replaceChildren(...out);
}

function describePlace(p) {
  return [p.name, p.node && "node " + p.node, p.zone && "zone " + p.zone, p.unreported && p.unreported + " not reporting"]
    .filter(Boolean).join(" · ");
}

function describeCell(from, to, c, state) {
  if (state === "self") return from.name;
  if (!c) return from.name + " → " + to.name + "\nnot in the fan-out";
  const lines = [from.name + " → " + to.name, state];
  lines.push("up " + (c.up || 0) + ", down " + (c.down || 0) + ", unmeasured " + (c.unmeasured || 0) + ", unreported " + (c.unreported || 0));
  if (c.p99Ms) lines.push("p99 " + c.p99Ms.toFixed(2) + "ms");
  if (c.segments) lines.push("TCP: " + (c.retransmits || 0) + " of " + c.segments + " segments retransmitted (" + (100 * (c.retransmits || 0) / c.segments).toFixed(1) + "%)");
  if (c.down) lines.push("last outcome " + (c.outcome || "?") + ", down since " + new Date(c.since).toLocaleTimeString());
  return lines.join("\n");
}

$("matrix").addEventListener("mouseover", (ev) => {
  if (ev.target.classList.contains("cell")) $("detail").textContent = ev.target.title;
});
window.addEventListener("hashchange", connect);
connect();
