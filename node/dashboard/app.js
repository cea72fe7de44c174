// The dashboard: plain browser JavaScript against the node's own REST API (no build step).
// Data from the node is always put in the page as text, never as HTML.
"use strict";

const KEY = "qdrant-node-api-key";
const REFRESH_MS = 2000;
let scrollOffset = null;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function json(v) {
  return JSON.stringify(v, null, 2);
}

function showError(msg) {
  const box = document.getElementById("error");
  box.hidden = !msg;
  box.textContent = msg || "";
}

// Calls the API with the stored key; asks for a key on 401/403.
async function api(method, path, body) {
  const headers = { "content-type": "application/json" };
  const key = localStorage.getItem(KEY);
  if (key) headers["api-key"] = key;
  const init = { method, headers };
  if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
  const res = await fetch(path, init);
  const text = await res.text();
  let data;
  try { data = JSON.parse(text); } catch (_) { data = text; }
  if (res.status === 401 || res.status === 403) {
    document.getElementById("key-prompt").hidden = false;
  }
  return { status: res.status, data };
}

async function result(method, path, body) {
  const r = await api(method, path, body);
  if (r.status >= 400) {
    const why = r.data && r.data.status && r.data.status.error;
    throw new Error(`${method} ${path}: ${r.status} ${why || ""}`);
  }
  return r.data.result;
}

function stateBadge(state) {
  return el("span", { class: `state state-${state}` }, state);
}

function vectorsSummary(params) {
  const v = params.vectors;
  const one = (c) => `${c.size}d ${c.distance}`;
  if (!v) return "";
  if (v.size !== undefined) return one(v);
  const named = Object.entries(v).map(([n, c]) => `${n}: ${one(c)}`);
  const sparse = Object.keys(params.sparse_vectors || {}).map((n) => `${n}: sparse`);
  return named.concat(sparse).join(", ");
}

async function loadCollections() {
  const list = await result("GET", "/collections");
  const names = list.collections.map((c) => c.name).sort();
  const infos = await Promise.all(names.map((n) => result("GET", `/collections/${encodeURIComponent(n)}`)));
  const body = document.querySelector("#collections-table tbody");
  body.replaceChildren(...names.map((name, i) => {
    const c = infos[i];
    const p = c.config.params;
    return el("tr", { class: "clickable", "data-name": name, onclick: () => {
        const d = document.getElementById("collection-detail");
        d.hidden = false;
        d.textContent = json({ name, ...c });
      } },
      el("td", {}, name),
      el("td", { class: `status-${c.status}` }, c.status),
      el("td", {}, c.points_count ?? ""),
      el("td", {}, c.indexed_vectors_count ?? ""),
      el("td", {}, c.segments_count ?? ""),
      el("td", {}, p.shard_number ?? ""),
      el("td", {}, p.replication_factor ?? ""),
      el("td", {}, vectorsSummary(p)));
  }));
  if (names.length === 0) body.append(el("tr", {}, el("td", { colspan: 8, class: "muted" }, "no collections")));
  fillCollectionSelect(names);
}

function fillCollectionSelect(names) {
  const sel = document.getElementById("points-collection");
  const current = sel.value;
  const same = names.length === sel.options.length && names.every((n, i) => sel.options[i].value === n);
  if (same) return;
  sel.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
  if (names.includes(current)) sel.value = current;
}

async function scrollPoints(next) {
  const name = document.getElementById("points-collection").value;
  if (!name) return;
  const filterText = document.getElementById("points-filter").value.trim();
  const req = {
    limit: Number(document.getElementById("points-limit").value) || 20,
    with_payload: true,
    with_vector: document.getElementById("points-vectors").checked,
  };
  if (filterText) req.filter = JSON.parse(filterText);
  if (next && scrollOffset !== null) req.offset = scrollOffset;
  const page = await result("POST", `/collections/${encodeURIComponent(name)}/points/scroll`, req);
  scrollOffset = page.next_page_offset ?? null;
  document.getElementById("points-next").disabled = scrollOffset === null;
  const body = document.querySelector("#points-table tbody");
  body.replaceChildren(...page.points.map((p) => el("tr", {},
    el("td", {}, String(p.id)),
    el("td", {}, el("pre", {}, json(p.payload || {}))),
    el("td", {}, p.vector === undefined || p.vector === null ? "" : el("pre", {}, JSON.stringify(p.vector))))));
  if (page.points.length === 0) body.append(el("tr", {}, el("td", { colspan: 3, class: "muted" }, "no points")));
}

async function sendConsole() {
  const method = document.getElementById("console-method").value;
  const path = document.getElementById("console-path").value.trim();
  const text = document.getElementById("console-body").value.trim();
  const started = performance.now();
  const r = await api(method, path, method === "GET" || !text ? undefined : text);
  const ms = (performance.now() - started).toFixed(1);
  document.getElementById("console-status").textContent = `${r.status} in ${ms} ms`;
  document.getElementById("console-output").textContent = typeof r.data === "string" ? r.data : json(r.data);
}

function progressBar(done, total) {
  const pct = total ? Math.min(100, Math.round((100 * done) / total)) : 0;
  return el("span", { class: "progress", title: `${pct}%` }, el("div", { style: `width:${pct}%` }));
}

function clusterSummary(view) {
  const box = document.getElementById("cluster-summary");
  const peers = view.peers.map((p) => el("li", { class: p.id === view.leader ? "leader" : "" },
    `peer ${p.id}`, p.uri ? ` (${p.uri})` : "", p.id === view.leader ? " — leader" : "",
    p.id === view.peer_id ? " — this node" : ""));
  box.replaceChildren(
    el("p", {}, view.cluster_enabled ? `${view.peers.length} peers, leader ${view.leader ?? "unknown"}` : "single node (cluster mode off)"),
    el("ul", { id: "peer-list" }, ...peers));
}

function shardGrid(view) {
  const peers = view.peers.map((p) => p.id);
  const head = el("tr", {}, el("th", {}, "collection"), el("th", {}, "shard"),
    ...peers.map((p) => el("th", {}, `peer ${p}`)));
  const rows = [];
  for (const c of view.collections) {
    for (const s of c.shards) {
      const cells = peers.map((p) => {
        const r = s.replicas.find((x) => x.peer_id === p);
        if (!r) return el("td", {});
        return el("td", { "data-peer": p, "data-state": r.state }, stateBadge(r.state), " ",
          r.points_count === null ? "no answer" : `${r.points_count} points`);
      });
      const shard = s.shard_key === null || s.shard_key === undefined ? `${s.shard_id}` : `${s.shard_id} (${s.shard_key})`;
      rows.push(el("tr", { "data-collection": c.name, "data-shard": s.shard_id },
        el("td", {}, c.name), el("td", {}, shard), ...cells));
    }
  }
  const table = el("table", { id: "shard-table" }, el("thead", {}, head), el("tbody", {}, ...rows));
  document.getElementById("cluster-grid").replaceChildren(rows.length ? table : el("p", { class: "muted" }, "no shards"));
}

function transfers(view) {
  const items = [];
  for (const c of view.collections) {
    for (const t of c.transfers) {
      const target = t.to_shard_id === null || t.to_shard_id === undefined ? "" : ` into shard ${t.to_shard_id}`;
      const counts = t.done === null || t.total === null ? "" : `${t.done}/${t.total} points${t.exact ? "" : " (approx.)"}`;
      items.push(el("div", { class: "transfer", "data-collection": c.name, "data-shard": t.shard_id },
        `${c.name}: shard ${t.shard_id}${target}, peer ${t.from} → ${t.to} (${t.method}) `,
        progressBar(t.copied ? 1 : t.done || 0, t.copied ? 1 : t.total || 0), " ",
        t.copied ? "copied, switching" : counts));
    }
    if (c.resharding) {
      const r = c.resharding;
      items.push(el("div", { class: "transfer" }, `${c.name}: resharding ${r.direction}, shard ${r.shard_id} on peer ${r.peer_id}`));
    }
  }
  document.getElementById("transfers").replaceChildren(...(items.length ? items : [el("p", { class: "muted" }, "none")]));
}

function peerChart(view) {
  const totals = new Map(view.peers.map((p) => [p.id, 0]));
  for (const c of view.collections) {
    for (const s of c.shards) {
      for (const r of s.replicas) totals.set(r.peer_id, (totals.get(r.peer_id) || 0) + (r.points_count || 0));
    }
  }
  const max = Math.max(1, ...totals.values());
  const bars = [...totals.entries()].map(([peer, n]) => el("div", { class: "bar", "data-peer": peer },
    el("span", { class: "label" }, `peer ${peer}`),
    el("span", { class: "fill", style: `width:${(30 * n) / max}em` }),
    el("span", {}, `${n} points`)));
  document.getElementById("peer-chart").replaceChildren(...bars);
}

async function loadCluster() {
  const view = await result("GET", "/dashboard/api/cluster");
  clusterSummary(view);
  shardGrid(view);
  transfers(view);
  peerChart(view);
}

const loaders = { collections: loadCollections, cluster: loadCluster, points: null, console: null };

function currentTab() {
  const t = location.hash.replace("#", "");
  return t in loaders ? t : "collections";
}

async function refresh() {
  const tab = currentTab();
  try {
    if (loaders[tab]) await loaders[tab]();
    if (tab === "points" && !document.getElementById("points-collection").options.length) await loadCollections();
    showError("");
  } catch (e) {
    showError(e.message);
  }
}

function showTab() {
  const tab = currentTab();
  for (const s of document.querySelectorAll(".tab")) s.hidden = s.id !== `tab-${tab}`;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.tab === tab);
  refresh();
}

function guard(f) {
  return () => f().catch((e) => showError(e.message));
}

async function nodeInfo() {
  const r = await api("GET", "/");
  if (r.status === 200) document.getElementById("node-info").textContent = `${r.data.title} ${r.data.version}`;
}

document.getElementById("key-prompt").addEventListener("submit", (e) => {
  e.preventDefault();
  localStorage.setItem(KEY, document.getElementById("key-input").value);
  document.getElementById("key-prompt").hidden = true;
  nodeInfo();
  refresh();
});
document.getElementById("change-key").addEventListener("click", () => {
  document.getElementById("key-prompt").hidden = false;
});
document.getElementById("points-scroll").addEventListener("click", guard(() => scrollPoints(false)));
document.getElementById("points-next").addEventListener("click", guard(() => scrollPoints(true)));
document.getElementById("console-send").addEventListener("click", guard(sendConsole));
window.addEventListener("hashchange", showTab);
setInterval(() => {
  if (document.getElementById("live").checked && document.getElementById("key-prompt").hidden) refresh();
}, REFRESH_MS);
nodeInfo();
showTab();
