// swarmnode's live web view. The server pushes a whole document ("state") and then
// patches ("patch": rows to put and ids to drop per table, new events) over one
// EventSource; this script keeps them in maps and redraws. Text is set with textContent
// only (never HTML from data). Writes send the web token as a bearer header.
"use strict";

const TOKEN_KEY = "swarmnode-web-token";
const model = {
  version: 0, nodes: new Map(), services: new Map(), tasks: new Map(), events: [],
  quorum: { leader: true, message: "" },
};
let writes = false;
let drawQueued = false;
let selectedTask = "";

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function stateSpan(word) {
  return el("span", { class: "state-" + String(word || "unknown").toLowerCase() }, word || "");
}

// -- the stream -------------------------------------------------------------------------
function load(doc) {
  model.version = doc.version;
  for (const table of ["nodes", "services", "tasks"]) {
    model[table] = new Map(doc[table].map((row) => [row.id, row]));
  }
  model.events = doc.events.slice();
  model.quorum = doc.quorum;
}

function applyPatch(patch) {
  model.version = patch.version;
  for (const table of ["nodes", "services", "tasks"]) {
    for (const id of patch.drop[table]) model[table].delete(id);
    for (const row of patch.put[table]) model[table].set(row.id, row);
  }
  model.events.push(...patch.events);
  if (model.events.length > 100) model.events.splice(0, model.events.length - 100);
}

function connect() {
  const source = new EventSource("/api/stream");
  source.addEventListener("open", () => setLive(true));
  source.addEventListener("error", () => {
    setLive(false);
    // EventSource reconnects by itself after a dropped stream, but gives up on a refusal
    // (every stream slot taken): try again a little later
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
  });
  source.addEventListener("state", (e) => { load(JSON.parse(e.data)); queueDraw(); });
  source.addEventListener("patch", (e) => { applyPatch(JSON.parse(e.data)); queueDraw(); });
  source.addEventListener("quorum", (e) => { model.quorum = JSON.parse(e.data); queueDraw(); });
}

function setLive(on) {
  const live = $("live");
  live.className = "live " + (on ? "on" : "off");
  live.textContent = on ? "live" : "reconnecting";
}

function queueDraw() {
  if (drawQueued) return;
  drawQueued = true;
  requestAnimationFrame(() => { drawQueued = false; draw(); });
}

// -- drawing ----------------------------------------------------------------------------
const byName = (key) => (a, b) => String(a[key]).localeCompare(String(b[key]));

function draw() {
  $("version").textContent = "store version " + model.version;
  // without a leader the rows are this manager's last copy: say so above them
  $("quorum").hidden = model.quorum.leader;
  $("quorum").textContent = model.quorum.leader ? "" : model.quorum.message;
  document.body.classList.toggle("stale", !model.quorum.leader);
  drawNodes();
  drawServices();
  drawTasks();
  drawEvents();
  document.body.setAttribute("data-version", String(model.version));
}

function tasksOn(nodeId) {
  return [...model.tasks.values()].filter((t) => t.node_id === nodeId);
}

function drawNodes() {
  const rows = [...model.nodes.values()].sort(byName("hostname")).map((n) => {
    const ms = n.manager_status;
    const manager = ms ? (ms.leader ? el("span", { class: "leader" }, "Leader") : stateSpan(ms.reachability)) : "";
    return el("tr", { "data-id": n.id, "data-hostname": n.hostname },
      el("td", { class: "hostname" }, n.hostname || "(unnamed)"),
      el("td", { class: "id" }, n.id.slice(0, 12)),
      el("td", { class: "role" }, n.role),
      el("td", { class: "status" }, stateSpan(n.status)),
      el("td", { class: "availability" }, stateSpan(n.availability)),
      el("td", { class: "manager" }, manager),
      el("td", { class: "ntasks" }, tasksOn(n.id).length));
  });
  $("nodes").tBodies[0].replaceChildren(...rows);
  $("nodes-count").textContent = "(" + rows.length + ")";
}

function updateText(service) {
  const u = service.update_status;
  if (service.pending_delete) return el("span", { class: "state-shutdown" }, "removing");
  if (!u) return "";
  return el("span", { title: u.message || "" }, stateSpan(u.state), u.message ? " " + u.message : "");
}

// as docker service ls prints them: *:8080->80/tcp
function portsText(ports) {
  return ports.map((p) => (p.published_port ? "*:" + p.published_port + "->" : "") +
    p.target_port + "/" + p.protocol + (p.publish_mode === "host" ? " (host)" : "")).join(", ");
}

function drawServices() {
  const services = [...model.services.values()].sort(byName("name"));
  const rows = services.map((s) => {
    const short = s.replicas_running < s.replicas_desired;
    return el("tr", { "data-id": s.id, "data-name": s.name },
      el("td", { class: "name" }, s.name),
      el("td", { class: "mode" }, s.mode),
      el("td", { class: "replicas" + (short ? " short" : "") }, s.replicas_running + "/" + s.replicas_desired),
      el("td", { class: "image" }, s.image),
      el("td", { class: "ports" }, portsText(s.ports || [])),
      el("td", { class: "update" }, updateText(s)));
  });
  $("services").tBodies[0].replaceChildren(...rows);
  $("services-count").textContent = "(" + rows.length + ")";
  const select = $("scale-service");
  const scalable = services.filter((s) => s.mode === "replicated");
  const wanted = scalable.map((s) => s.name).join("\n");
  if (select.getAttribute("data-names") !== wanted) {
    const keep = select.value;
    select.replaceChildren(...scalable.map((s) => el("option", { value: s.name }, s.name)));
    if (scalable.some((s) => s.name === keep)) select.value = keep;
    select.setAttribute("data-names", wanted);
  }
}

function taskItem(t) {
  const label = t.desired_state !== t.state && t.desired_state !== "running"
    ? [stateSpan(t.state), " → " + t.desired_state] : [stateSpan(t.state)];
  return el("li", { class: "task" + (t.id === selectedTask ? " selected" : ""), "data-id": t.id,
                    "data-name": t.name, title: t.message || "", onclick: () => openLog(t) },
    // a global service's task is named after its node, which the card already names
    el("span", {}, el("span", { class: "tname" }, t.slot ? t.name : t.service_name), " ",
       el("span", { class: "id" }, t.id.slice(0, 8)),
       t.reason ? el("span", { class: "why" }, t.reason) : null),
    el("span", { class: "tstate" }, ...label));
}

function drawTasks() {
  const byNode = new Map();
  for (const t of model.tasks.values()) {
    if (!byNode.has(t.node_id)) byNode.set(t.node_id, []);
    byNode.get(t.node_id).push(t);
  }
  const order = (a, b) => a.service_name.localeCompare(b.service_name) || a.slot - b.slot || a.name.localeCompare(b.name);
  const cards = [...model.nodes.values()].sort(byName("hostname")).map((n) => card(n.id, n.hostname, n.status, byNode.get(n.id) || [], order));
  const pending = byNode.get("");
  if (pending && pending.length) cards.push(card("", "not yet on a node", "", pending, order));
  for (const [nodeId, list] of byNode) {
    if (nodeId && !model.nodes.has(nodeId)) cards.push(card(nodeId, nodeId.slice(0, 12) + " (removed)", "", list, order));
  }
  $("tasks").replaceChildren(...cards);
}

function card(nodeId, title, status, tasks, order) {
  return el("div", { class: "card", "data-node": nodeId },
    el("h3", {}, el("span", {}, title), status ? stateSpan(status) : ""),
    el("ul", {}, ...tasks.sort(order).map(taskItem)),
    tasks.length ? null : el("p", { class: "muted" }, "no tasks"));
}

function hostname(nodeId) {
  const node = model.nodes.get(nodeId);
  return node && node.hostname ? node.hostname : nodeId ? nodeId.slice(0, 12) : "∅";
}

function eventText(e) {
  const attrs = e.attributes || {};
  const parts = [];
  for (const key of Object.keys(attrs)) {
    if (key.endsWith(".new")) {
      const field = key.slice(0, -4);
      const [from, to] = field === "node"
        ? [hostname(attrs["node.old"]), hostname(attrs[key])]
        : [attrs[field + ".old"] || "∅", attrs[key]];
      parts.push(field + " " + from + " → " + to);
    }
  }
  if (e.changes && e.changes.length) parts.unshift(e.changes.join(", "));
  if (attrs.error) parts.push(attrs.error);
  return parts.join("; ");
}

function drawEvents() {
  const items = model.events.slice().reverse().map((e) =>
    el("li", { "data-position": e.position },
      el("time", {}, new Date(e.time * 1000).toLocaleTimeString([], { hour12: false })),
      el("span", { class: "what" }, e.type + " " + e.action),
      el("span", { class: "name" }, e.name || e.id.slice(0, 12)),
      " ", el("span", { class: "muted" }, eventText(e))));
  $("events").replaceChildren(...items);
}

// -- a task's log -----------------------------------------------------------------------
async function openLog(task) {
  selectedTask = task.id;
  queueDraw();
  $("logs").hidden = false;
  $("logs-title").textContent = "Log of " + task.name;
  $("logs-message").textContent = "loading…";
  $("logs-lines").replaceChildren();
  try {
    const answer = await (await fetch("/api/tasks/" + encodeURIComponent(task.id) + "/logs")).json();
    if (selectedTask !== task.id) return;
    const notes = (answer.notices || []).join("; ");
    $("logs-message").textContent = answer.available
      ? (answer.lines.length ? "last " + answer.lines.length + " lines" : "no output yet") + (notes ? " — " + notes : "")
      : answer.message || "logs are not available";
    $("logs-lines").replaceChildren(...(answer.lines || []).map((l) =>
      el("div", { class: l.stream === "stderr" ? "stderr" : "" }, l.line)));
  } catch (err) {
    $("logs-message").textContent = "could not read the log: " + err;
  }
}

function closeLog() {
  selectedTask = "";
  $("logs").hidden = true;
  queueDraw();
}

// -- writes -----------------------------------------------------------------------------
function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

async function scale(event) {
  event.preventDefault();
  const name = $("scale-service").value;
  const replicas = Number.parseInt($("scale-replicas").value, 10);
  const result = $("scale-result");
  if (!name || !Number.isInteger(replicas)) { result.textContent = "pick a service and a number"; return; }
  result.textContent = "scaling…";
  const response = await fetch("/api/services/" + encodeURIComponent(name) + "/scale", {
    method: "POST",
    headers: { "Content-Type": "application/json", "Authorization": "Bearer " + token() },
    body: JSON.stringify({ replicas }),
  });
  const answer = await response.json().catch(() => ({}));
  result.textContent = response.ok ? name + " scaled to " + replicas : (answer.message || response.statusText);
}

function useToken(event) {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value);
  $("token").value = "";
  showMode();
}

function showMode() {
  $("token-form").hidden = !writes;
  $("scale-form").hidden = !writes;
  $("mode").textContent = !writes ? "read-only" : token() ? "writes with your token" : "writes need the web token";
}

async function start() {
  $("logs-close").addEventListener("click", closeLog);
  $("scale-form").addEventListener("submit", scale);
  $("token-form").addEventListener("submit", useToken);
  try {
    writes = Boolean((await (await fetch("/api/info")).json()).writes);
  } catch (err) {
    writes = false;
  }
  showMode();
  connect();
}

document.addEventListener("DOMContentLoaded", start);
