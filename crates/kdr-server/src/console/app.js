// kdr console. Every string from the server is put into the page as a text node or an
// attribute value, never as HTML: alert fields carry attacker-controlled text.
"use strict";

const state = { user: null, permissions: [], csrf: null };

// ---------------------------------------------------------------------------------------------
// DOM and HTTP helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "testid") el.setAttribute("data-testid", value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "testid") el.setAttribute("data-testid", value);
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function link(route, text, testid) {
  return h("a", { href: "#" + route, testid }, text);
}

function route(...parts) {
  return "/" + parts.map((p) => encodeURIComponent(p)).join("/");
}

function flash(message, kind) {
  const el = document.getElementById("flash");
  el.className = kind || "";
  el.textContent = message || "";
}

class ApiError extends Error {
  constructor(status, message, missingPermission) {
    super(message);
    this.status = status;
    this.missingPermission = missingPermission;
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("application/json") ? await response.json() : await response.text();
  if (!response.ok) {
    const message = (data && data.error) || response.statusText;
    if (response.status === 401 && path !== "/api/v1/login") {
      state.user = null;
      renderLogin(message);
    }
    throw new ApiError(response.status, message, data && data.missingPermission);
  }
  return data;
}

function can(permission) {
  return state.permissions.includes(permission);
}

function time(value) {
  if (!value) return "";
  return String(value).replace("T", " ").replace(/\.\d+Z$/, "Z");
}

function sevCell(severity) {
  return h("span", { class: "sev sev-" + severity }, severity);
}

async function guarded(work) {
  try {
    await work();
  } catch (error) {
    flash(error.message, "error");
  }
}

function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: name });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// ---------------------------------------------------------------------------------------------
// Session

function renderLogin(message) {
  document.getElementById("nav").hidden = true;
  document.getElementById("who").replaceChildren();
  const user = h("input", { name: "username", autocomplete: "username", testid: "login-user", required: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", testid: "login-password", required: true });
  const error = h("p", { class: "error", testid: "login-error" }, message || "");
  const form = h("form", { class: "panel login", testid: "login-form" },
    h("h2", {}, "Sign in to kdr"),
    h("label", {}, "User", user),
    h("label", {}, "Password", password),
    error,
    h("button", { type: "submit", testid: "login-submit" }, "Sign in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const session = await api("POST", "/api/v1/login", { username: user.value, password: password.value });
      startSession(session);
      if (!location.hash || location.hash === "#/login") location.hash = "#/alerts";
      else show();
    } catch (e) {
      error.textContent = e.message;
    }
  });
  document.getElementById("main").replaceChildren(form);
}

function startSession(session) {
  state.user = session.user;
  state.permissions = session.permissions || [];
  state.csrf = session.csrfToken;
  document.getElementById("nav").hidden = false;
  const logout = h("button", { class: "secondary", testid: "logout", onclick: () => guarded(async () => {
    await api("POST", "/api/v1/logout", {});
    state.user = null;
    state.csrf = null;
    renderLogin("Signed out.");
  }) }, "Sign out");
  document.getElementById("who").replaceChildren(h("span", { testid: "who" }, session.user), logout);
}

// ---------------------------------------------------------------------------------------------
// Router

const pages = [
  [/^\/alerts$/, alertsPage],
  [/^\/alerts\/([^/]+)$/, alertPage],
  [/^\/incidents$/, incidentsPage],
  [/^\/incidents\/([^/]+)$/, incidentPage],
  [/^\/hunt$/, huntPage],
  [/^\/actions$/, actionsPage],
  [/^\/reports$/, reportsPage],
  [/^\/reports\/([^/]+)$/, reportPage],
  [/^\/admin$/, adminPage],
];

let refreshTimer = null;

async function show() {
  if (!state.user) return;
  clearTimeout(refreshTimer);
  flash("");
  const hash = location.hash.replace(/^#/, "") || "/alerts";
  const [path, queryString] = hash.split("?");
  const params = new URLSearchParams(queryString || "");
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", path.startsWith(a.getAttribute("href").slice(1)));
  }
  const main = document.getElementById("main");
  for (const [pattern, page] of pages) {
    const match = path.match(pattern);
    if (match) {
      const args = match.slice(1).map(decodeURIComponent);
      try {
        const content = await page(params, ...args);
        main.replaceChildren(content);
      } catch (error) {
        main.replaceChildren(h("div", { class: "panel", testid: "page-error" },
          h("p", { class: "error" }, error.message)));
      }
      return;
    }
  }
  main.replaceChildren(h("p", {}, "No such page."));
}

window.addEventListener("hashchange", show);
window.addEventListener("DOMContentLoaded", async () => {
  try {
    startSession(await api("GET", "/api/v1/session"));
    show();
  } catch (e) {
    renderLogin();
  }
});

// ---------------------------------------------------------------------------------------------
// Alert queue

const SEVERITIES = ["High", "Medium", "Low", "Informational"];
const STATUSES = ["New", "InProgress", "Resolved"];
const PLANES = ["audit", "config", "runtime", "cloud"];

function select(name, options, value, testid) {
  return h("select", { name, testid },
    h("option", { value: "" }, "any"),
    options.map((o) => h("option", { value: o, selected: o === value }, o)));
}

async function alertsPage(params) {
  const query = new URLSearchParams(params);
  if (!query.get("limit")) query.set("limit", "50");
  const page = await api("GET", "/api/v1/alerts?" + query.toString());
  const field = (name, label, type) =>
    h("label", {}, label, h("input", { name, type: type || "text", value: params.get(name) || "", testid: "filter-" + name }));
  const form = h("form", { class: "filters", testid: "alert-filters" },
    h("label", {}, "Severity", select("severity", SEVERITIES, params.get("severity"), "filter-severity")),
    h("label", {}, "Status", select("status", STATUSES, params.get("status"), "filter-status")),
    h("label", {}, "Plane", select("plane", PLANES, params.get("plane"), "filter-plane")),
    field("type", "Alert type"), field("cluster", "Cluster"), field("namespace", "Namespace"),
    field("pod", "Pod"), field("from", "From (ISO time)"), field("to", "To (ISO time)"),
    field("q", "Text"),
    h("button", { type: "submit", testid: "filter-apply" }, "Filter"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (value) next.set(key, value);
    for (const key of ["sort", "order"]) if (params.get(key)) next.set(key, params.get(key));
    location.hash = "#/alerts?" + next.toString();
  });

  const selected = new Set();
  const sortHeader = (label, key) => {
    const current = params.get("sort") === key;
    const order = current && params.get("order") !== "asc" ? "asc" : "desc";
    return h("th", { class: "sortable", testid: "sort-" + key, onclick: () => {
      const next = new URLSearchParams(params);
      next.set("sort", key);
      next.set("order", order);
      next.delete("offset");
      location.hash = "#/alerts?" + next.toString();
    } }, label, current ? (params.get("order") === "asc" ? " ▲" : " ▼") : "");
  };
  const rows = page.alerts.map((a) => {
    const box = h("input", { type: "checkbox", testid: "select-alert", onclick: (e) => {
      e.stopPropagation();
      if (box.checked) selected.add(a.id); else selected.delete(a.id);
    } });
    const e = a.entities || {};
    return h("tr", { class: "clickable", testid: "alert-row", "data-id": a.id,
      onclick: () => { location.hash = "#" + route("alerts", a.id); } },
      h("td", {}, box),
      h("td", {}, time(a.startTime)),
      h("td", {}, sevCell(a.severity)),
      h("td", { testid: "alert-name" }, a.displayName, h("div", { class: "muted mono" }, a.alertType)),
      h("td", {}, [e.cluster, e.namespace, e.pod].filter(Boolean).join(" / ")),
      h("td", { class: "mono" }, a.reason || ""),
      h("td", {}, String(a.count)),
      h("td", { testid: "alert-status" }, a.status),
      h("td", {}, a.assignedTo || ""));
  });
  const bulkStatus = select("bulk-status", STATUSES, "", "bulk-status");
  const bulkAssignee = h("input", { placeholder: "assignee", testid: "bulk-assignee" });
  const bulk = h("div", { class: "toolbar" },
    h("label", {}, "Set status", bulkStatus),
    h("label", {}, "Assign to", bulkAssignee),
    h("button", { testid: "bulk-apply", disabled: !can("Alerts: manage"), onclick: () => guarded(async () => {
      if (!selected.size) throw new Error("select alerts first");
      const body = { ids: [...selected] };
      if (bulkStatus.value) body.status = bulkStatus.value;
      if (bulkAssignee.value) body.assignee = bulkAssignee.value;
      const result = await api("POST", "/api/v1/alerts/bulk", body);
      await show();
      flash(result.changed + " alerts changed", "ok");
    }) }, "Apply to selected"));
  const offset = Number(params.get("offset") || 0);
  const limit = Number(query.get("limit"));
  const goto = (newOffset) => {
    const next = new URLSearchParams(params);
    next.set("offset", String(Math.max(0, newOffset)));
    location.hash = "#/alerts?" + next.toString();
  };
  const pager = h("div", { class: "pager" },
    h("button", { class: "secondary", testid: "page-prev", disabled: offset === 0, onclick: () => goto(offset - limit) }, "Previous"),
    h("span", { testid: "alert-total" }, page.total ? `${offset + 1}–${offset + page.alerts.length} of ${page.total}` : "no alerts"),
    h("button", { class: "secondary", testid: "page-next", disabled: offset + limit >= page.total, onclick: () => goto(offset + limit) }, "Next"));
  return h("div", {},
    h("h2", {}, "Alerts"), form, bulk,
    h("table", { testid: "alert-table" },
      h("thead", {}, h("tr", {}, h("th", {}, ""), sortHeader("Time", "time"), sortHeader("Severity", "severity"),
        sortHeader("Alert", "type"), h("th", {}, "Where"), h("th", {}, "Reason"), sortHeader("Count", "count"),
        sortHeader("Status", "status"), h("th", {}, "Assigned"))),
      h("tbody", {}, rows)),
    pager);
}

function entitiesList(entities) {
  const rows = [];
  const add = (label, value) => {
    if (value === undefined || value === null || value === "") return;
    rows.push(h("dt", {}, label), h("dd", { class: "mono" }, typeof value === "object" ? JSON.stringify(value) : String(value)));
  };
  const e = entities || {};
  add("Cluster", e.cluster);
  add("Namespace", e.namespace);
  add("Pod", e.pod);
  add("Node", e.node);
  if (e.workload) add("Workload", `${e.workload.kind || ""} ${e.workload.name || ""}`);
  if (e.container) add("Container", e.container);
  if (e.image) add("Image", e.image);
  if (e.identity) add("Identity", e.identity);
  if (e.process) add("Process", e.process);
  if (e.file) add("File", e.file);
  if (e.remote) add("Remote", e.remote);
  if (e.sourceIps && e.sourceIps.length) add("Source IPs", e.sourceIps.join(", "));
  for (const [key, value] of Object.entries(e)) {
    if (!["cluster", "namespace", "pod", "node", "workload", "container", "image", "identity", "process", "file", "remote", "sourceIps"].includes(key)) add(key, value);
  }
  return h("dl", { class: "kv", testid: "entities" }, rows);
}

async function alertPage(params, id) {
  const data = await api("GET", "/api/v1/alerts/" + encodeURIComponent(id));
  const a = data.alert;
  const status = select("status", STATUSES, a.status, "alert-status-select");
  const assignee = h("input", { value: a.assignedTo || "", testid: "alert-assignee" });
  const comment = h("textarea", { testid: "alert-comment", rows: 2, cols: 60 });
  const manage = can("Alerts: manage");
  const reload = () => show();
  return h("div", {},
    h("h2", { testid: "alert-title" }, a.displayName),
    h("p", {}, sevCell(a.severity), " · ", h("span", { class: "mono" }, a.alertType), " · ",
      link(route("reports", a.alertType), "About this alert type", "report-link"),
      a.incidentId ? [" · ", link(route("incidents", a.incidentId), "Incident", "incident-link")] : null),
    h("div", { class: "grid2" },
      h("div", {},
        h("div", { class: "panel" }, h("h3", {}, "What happened"), h("p", { testid: "alert-reason" }, a.reason || a.description),
          h("dl", { class: "kv" },
            h("dt", {}, "First seen"), h("dd", {}, time(a.startTime)),
            h("dt", {}, "Last seen"), h("dd", {}, time(a.endTime)),
            h("dt", {}, "Count"), h("dd", {}, String(a.count)),
            h("dt", {}, "Tactics"), h("dd", {}, (a.tactics || []).map((t) => h("span", { class: "tag" }, t))),
            h("dt", {}, "Techniques"), h("dd", {}, (a.techniques || []).map((t) => h("span", { class: "tag" }, t))),
            h("dt", {}, "Evidence"), h("dd", { class: "mono" }, (a.evidence || []).join(", ")))),
        h("div", { class: "panel" }, h("h3", {}, "Entities"), entitiesList(a.entities)),
        h("div", { class: "panel" }, h("h3", {}, "Remediation"), h("p", {}, a.remediation))),
      h("div", {},
        h("div", { class: "panel" }, h("h3", {}, "Triage"),
          h("div", { class: "toolbar" },
            h("label", {}, "Status", status),
            h("button", { testid: "alert-status-save", disabled: !manage, onclick: () => guarded(async () => {
              await api("POST", `/api/v1/alerts/${encodeURIComponent(id)}/status`, { status: status.value });
              await reload();
              flash("Status saved", "ok");
            }) }, "Save"),
            h("label", {}, "Assigned to", assignee),
            h("button", { testid: "alert-assign-save", disabled: !manage, onclick: () => guarded(async () => {
              await api("POST", `/api/v1/alerts/${encodeURIComponent(id)}/assign`, { assignee: assignee.value || null });
              await reload();
            }) }, "Assign")),
          h("h4", {}, "History"),
          h("ul", {}, data.history.map((c) => h("li", {}, `${time(c.changedAt)} ${c.actor}: ${c.from} → ${c.to}${c.assignedTo ? " (assigned " + c.assignedTo + ")" : ""}`))),
          h("h4", {}, "Comments"),
          h("ul", { testid: "comments" }, data.comments.map((c) => h("li", {}, h("b", {}, c.author), " ", h("span", { class: "muted" }, time(c.createdAt)), h("div", {}, c.text)))),
          comment,
          h("div", {}, h("button", { testid: "alert-comment-add", disabled: !manage, onclick: () => guarded(async () => {
            await api("POST", `/api/v1/alerts/${encodeURIComponent(id)}/comments`, { text: comment.value });
            await reload();
          }) }, "Add comment")))),
      h("div", {}, a.entities && a.entities.pod && a.entities.namespace ? podActions(a.entities.namespace, a.entities.pod, a.entities.cluster, { alertId: a.id }) : null)));
}

// ---------------------------------------------------------------------------------------------
// Incidents

async function incidentsPage(params) {
  const page = await api("GET", "/api/v1/incidents?" + new URLSearchParams(params).toString());
  return h("div", {}, h("h2", {}, "Incidents"),
    h("table", { testid: "incident-table" },
      h("thead", {}, h("tr", {}, ["Last activity", "Severity", "Title", "Alerts", "Tactics", "Status", "Assigned"].map((t) => h("th", {}, t)))),
      h("tbody", {}, page.incidents.map((i) => h("tr", { class: "clickable", testid: "incident-row", "data-id": i.id,
        onclick: () => { location.hash = "#" + route("incidents", i.id); } },
        h("td", {}, time(i.lastTime)), h("td", {}, sevCell(i.severity)), h("td", {}, i.title),
        h("td", {}, String(i.alertCount)), h("td", {}, i.tactics.map((t) => h("span", { class: "tag" }, t))),
        h("td", {}, i.status), h("td", {}, i.assignedTo || ""))))));
}

// Columns of the graph, left to right: where things run, then what ran, then what it touched,
// then the alerts (and any kind not named here).
const KIND_COLUMNS = [
  ["cluster"], ["namespace", "node"], ["workload", "service", "serviceaccount", "user", "identity"],
  ["pod", "object"], ["container", "image", "registry"], ["process"], ["file", "ip", "domain", "remote"],
  ["alert"],
];

// The graph names kinds in snake case (service_account); compare them without case or "_".
function kindKey(kind) {
  return String(kind).toLowerCase().replace(/_/g, "");
}

function columnOf(kind) {
  const k = kindKey(kind);
  const index = KIND_COLUMNS.findIndex((group) => group.includes(k));
  return index < 0 ? KIND_COLUMNS.length - 1 : index;
}

function drawGraph(graph, onSelect) {
  const columns = new Map();
  for (const node of graph.nodes) {
    const c = columnOf(node.kind);
    if (!columns.has(c)) columns.set(c, []);
    columns.get(c).push(node);
  }
  const used = [...columns.keys()].sort((a, b) => a - b);
  const boxW = 150, boxH = 38, gapX = 40, gapY = 14;
  const position = new Map();
  let height = 0;
  used.forEach((c, x) => {
    columns.get(c).forEach((node, y) => {
      position.set(node.id, { x: 10 + x * (boxW + gapX), y: 10 + y * (boxH + gapY) });
      height = Math.max(height, 10 + (y + 1) * (boxH + gapY));
    });
  });
  const width = 20 + used.length * (boxW + gapX);
  const root = svg("svg", { class: "graph", viewBox: `0 0 ${width} ${Math.max(height, 60)}`, testid: "incident-graph", role: "img", "aria-label": "Entity graph" });
  for (const edge of graph.edges) {
    const a = position.get(edge.from), b = position.get(edge.to);
    if (!a || !b) continue;
    const x1 = a.x + boxW, y1 = a.y + boxH / 2, x2 = b.x, y2 = b.y + boxH / 2;
    const line = svg("line", { x1, y1, x2: x2 < x1 ? b.x + boxW : x2, y2 });
    root.appendChild(line);
    root.appendChild(svg("text", { class: "edge-label", x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 2 }, edge.kind));
  }
  for (const node of graph.nodes) {
    const p = position.get(node.id);
    const label = node.label.length > 24 ? node.label.slice(0, 23) + "…" : node.label;
    const group = svg("g", { class: "node", transform: `translate(${p.x},${p.y})`, testid: "graph-node", "data-kind": node.kind, "data-id": node.id },
      svg("title", {}, `${node.kind}: ${node.label}`),
      svg("rect", { width: boxW, height: boxH, rx: 5 }),
      svg("text", { class: "kind", x: 6, y: 13 }, node.kind),
      svg("text", { x: 6, y: 29 }, label));
    group.addEventListener("click", () => {
      for (const g of root.querySelectorAll(".node")) g.classList.remove("selected");
      group.classList.add("selected");
      onSelect(node);
    });
    root.appendChild(group);
  }
  return root;
}

function entityPane(node, incident) {
  const rows = [h("dt", {}, "Kind"), h("dd", {}, node.kind), h("dt", {}, "Name"), h("dd", { class: "mono" }, node.label)];
  for (const [key, value] of Object.entries(node.properties || {})) {
    rows.push(h("dt", {}, key), h("dd", { class: "mono" }, typeof value === "object" ? JSON.stringify(value) : String(value)));
  }
  const props = node.properties || {};
  const hunt = (query) => h("button", { class: "secondary", testid: "entity-hunt", onclick: () => {
    sessionStorage.setItem("kdr.hunt", query);
    location.hash = "#/hunt";
  } }, "Go hunt");
  const quote = (s) => JSON.stringify(String(s));
  let query = null;
  const kind = kindKey(node.kind);
  // Labels are for reading ("shop/web-1", "shop/web"); properties carry the names to act on.
  const name = props.name || node.label;
  if (kind === "pod") query = `CloudProcessEvents | where KubernetesPodName == ${quote(name)}${props.namespace ? ` and KubernetesNamespace == ${quote(props.namespace)}` : ""} | order by Timestamp asc`;
  else if (kind === "container") query = `CloudProcessEvents | where ContainerId == ${quote(props.id || node.label)} or ContainerName == ${quote(node.label)} | order by Timestamp asc`;
  else if (kind === "image") query = `CloudProcessEvents | where ContainerImageName == ${quote(node.label)} | summarize count() by ProcessName`;
  else if (kind === "process") query = `CloudProcessEvents | where ProcessName == ${quote(node.label)} | take 100`;
  else if (kind === "user" || kind === "serviceaccount" || kind === "identity") query = `CloudAuditEvents | where RawEventData.user.username == ${quote(name)} | order by Timestamp asc`;
  else if (kind === "ip") query = `CloudAuditEvents | where IPAddress == ${quote(node.label)}`;
  let podButtons = null;
  if (kind === "pod" && props.namespace) podButtons = podActions(props.namespace, name, props.cluster, { incidentId: incident });
  return h("div", { class: "panel", testid: "entity-pane" }, h("h3", {}, "Entity"), h("dl", { class: "kv" }, rows),
    query ? h("p", {}, hunt(query)) : null, podButtons);
}

function podActions(namespace, pod, cluster, link) {
  const allowed = can("Response: manage");
  const out = h("div", { class: "panel", testid: "pod-actions" }, h("h3", {}, "Respond: ", h("span", { class: "mono" }, `${namespace}/${pod}`)));
  const grace = h("input", { type: "number", min: 0, value: 30, size: 4, testid: "grace-seconds" });
  const confirmBox = h("div", { class: "toolbar", testid: "action-confirm-box" });
  const request = (kind) => guarded(async () => {
    const body = Object.assign({ kind, namespace, pod }, cluster ? { cluster } : {}, link);
    if (kind === "terminate") body.graceSeconds = Number(grace.value);
    const record = await api("POST", "/api/v1/actions", body);
    flash(`${kind} requested (${record.id}); follow it in the action center`, "ok");
    location.hash = "#/actions?highlight=" + encodeURIComponent(record.id);
  });
  // Isolate and terminate disrupt a workload: ask once more, in the page.
  const run = (kind) => {
    if (kind === "release") return request(kind);
    confirmBox.replaceChildren(
      h("span", {}, `${kind} pod ${namespace}/${pod}?`),
      h("button", { class: "danger", testid: "action-confirm", onclick: () => request(kind) }, "Yes, " + kind),
      h("button", { class: "secondary", onclick: () => confirmBox.replaceChildren() }, "Cancel"));
  };
  append(out, [
    h("button", { testid: "action-isolate", disabled: !allowed, onclick: () => run("isolate") }, "Isolate pod"), " ",
    h("button", { class: "secondary", testid: "action-release", disabled: !allowed, onclick: () => run("release") }, "Release"), " ",
    h("button", { class: "danger", testid: "action-terminate", disabled: !allowed, onclick: () => run("terminate") }, "Terminate"),
    " grace (s) ", grace,
    confirmBox,
    allowed ? null : h("p", { class: "muted", testid: "response-refused" }, "You lack the permission \"Response: manage\"."),
    cluster ? h("p", { class: "muted" }, "Cluster: " + cluster) : null,
  ]);
  return out;
}

async function incidentPage(params, id) {
  const data = await api("GET", "/api/v1/incidents/" + encodeURIComponent(id));
  const i = data.incident;
  const pane = h("div", { testid: "entity-pane-holder" }, h("p", { class: "muted" }, "Click an entity in the graph for details."));
  const graph = drawGraph(data.graph, (node) => pane.replaceChildren(entityPane(node, i.id)));
  const alerts = [...data.alerts].sort((a, b) => String(a.startTime).localeCompare(String(b.startTime)));
  const timeline = h("table", { testid: "incident-timeline" },
    h("thead", {}, h("tr", {}, ["Time", "Severity", "Alert", "Tactics", "Reason"].map((t) => h("th", {}, t)))),
    h("tbody", {}, alerts.map((a) => h("tr", { class: "clickable", onclick: () => { location.hash = "#" + route("alerts", a.id); } },
      h("td", {}, time(a.startTime)), h("td", {}, sevCell(a.severity)), h("td", {}, a.displayName),
      h("td", {}, (a.tactics || []).map((t) => h("span", { class: "tag" }, t))), h("td", { class: "mono" }, a.reason || "")))));
  const hunts = data.huntQueries.map((q) => h("li", {}, h("code", {}, q), " ",
    h("button", { class: "secondary", testid: "incident-hunt", onclick: () => {
      sessionStorage.setItem("kdr.hunt", q);
      location.hash = "#/hunt";
    } }, "Go hunt")));
  const actions = h("table", { testid: "incident-actions" },
    h("tbody", {}, data.actions.map((a) => h("tr", {}, h("td", {}, a.kind), h("td", {}, `${a.namespace}/${a.pod}`),
      h("td", { class: "status-" + a.status }, a.status), h("td", {}, time(a.requestedAt))))));
  return h("div", {},
    h("h2", { testid: "incident-title" }, i.title),
    h("p", {}, sevCell(i.severity), ` · ${i.status} · ${i.alertCount} alerts · ${time(i.firstTime)} – ${time(i.lastTime)}`),
    h("p", { testid: "incident-tactics" }, "MITRE ATT&CK tactics: ", i.tactics.map((t) => h("span", { class: "tag" }, t))),
    h("div", { class: "grid2" }, h("div", {}, h("div", { class: "panel" }, h("h3", {}, "Entity graph"), graph)), pane),
    h("div", { class: "panel" }, h("h3", {}, "Alert timeline"), timeline),
    h("div", { class: "panel" }, h("h3", {}, "Hunt around this incident"), h("ul", {}, hunts)),
    h("div", { class: "panel" }, h("h3", {}, "Response actions on its pods"), actions));
}

// ---------------------------------------------------------------------------------------------
// Hunting

async function huntPage() {
  const saved = await api("GET", "/api/v1/saved-queries");
  const editor = h("textarea", { class: "kql", testid: "kql-editor", spellcheck: "false" },
    sessionStorage.getItem("kdr.hunt") || "CloudProcessEvents\n| where Timestamp > ago(1d)\n| summarize count() by ContainerImageName\n| top 10 by count_");
  sessionStorage.removeItem("kdr.hunt");
  const results = h("div", { testid: "hunt-results" });
  let last = null;
  const runQuery = () => guarded(async () => {
    results.replaceChildren(h("p", { class: "muted" }, "Running…"));
    try {
      last = await api("POST", "/api/v1/hunt", { query: editor.value });
    } catch (error) {
      results.replaceChildren(h("pre", { class: "error", testid: "hunt-error" }, error.message));
      return;
    }
    results.replaceChildren(
      h("p", { class: "muted", testid: "hunt-summary" }, `${last.rows.length} rows${last.truncated ? " (truncated)" : ""} in ${last.elapsedMs.toFixed(1)} ms`),
      h("table", { testid: "hunt-table" },
        h("thead", {}, h("tr", {}, last.columns.map((c) => h("th", { title: c.type }, c.name)))),
        h("tbody", {}, last.rows.map((row) => h("tr", {}, row.map((v) => h("td", { class: "mono" }, v === null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v))))))));
  });
  const name = h("input", { placeholder: "name", testid: "save-name" });
  const savedList = h("ul", { testid: "saved-queries" }, saved.map((q) => h("li", {},
    h("a", { href: "#/hunt", testid: "saved-query", onclick: (e) => { e.preventDefault(); editor.value = q.query; } }, q.name), " ",
    h("button", { class: "secondary", onclick: () => guarded(async () => {
      await api("DELETE", "/api/v1/saved-queries/" + encodeURIComponent(q.name));
      await show();
    }) }, "Delete"))));
  return h("div", {}, h("h2", {}, "Hunting"),
    h("div", { class: "grid2" },
      h("div", {}, editor,
        h("div", { class: "toolbar" },
          h("button", { testid: "hunt-run", onclick: runQuery }, "Run"),
          h("button", { class: "secondary", testid: "export-csv", onclick: () => guarded(async () => {
            const response = await fetch("/api/v1/hunt", { method: "POST", credentials: "same-origin",
              headers: { "Content-Type": "application/json", "X-CSRF-Token": state.csrf }, body: JSON.stringify({ query: editor.value, format: "csv" }) });
            if (!response.ok) throw new Error((await response.json()).error);
            download("hunt.csv", "text/csv", await response.text());
          }) }, "Export CSV"),
          h("button", { class: "secondary", testid: "export-json", onclick: () => {
            if (!last) return flash("run the query first", "error");
            const objects = last.rows.map((row) => Object.fromEntries(last.columns.map((c, i) => [c.name, row[i]])));
            download("hunt.json", "application/json", JSON.stringify(objects, null, 2));
          } }, "Export JSON"))),
      h("div", { class: "panel" }, h("h3", {}, "Saved queries"), savedList,
        h("div", { class: "toolbar" }, name, h("button", { testid: "save-query", onclick: () => guarded(async () => {
          await api("POST", "/api/v1/saved-queries", { name: name.value, query: editor.value });
          const keep = editor.value;
          await show();
          const fresh = document.querySelector("[data-testid=kql-editor]");
          if (fresh) fresh.value = keep;
          flash("Query saved", "ok");
        }) }, "Save")))),
    results);
}

// ---------------------------------------------------------------------------------------------
// Action center

async function actionsPage(params) {
  const actions = await api("GET", "/api/v1/actions");
  // A pod is isolated when its latest isolate/release action is an isolation that took effect.
  const latest = new Map();
  for (const a of actions) {
    const key = `${a.context}|${a.namespace}|${a.pod}`;
    if ((a.kind === "isolate" || a.kind === "release") && !latest.has(key)) latest.set(key, a);
  }
  const allowed = can("Response: manage");
  const rows = actions.map((a) => {
    const key = `${a.context}|${a.namespace}|${a.pod}`;
    const isolated = a.kind === "isolate" && latest.get(key) === a && (a.status === "Succeeded" || a.status === "Partial");
    const details = a.details && a.details.details ? a.details.details : [];
    return h("tr", { testid: "action-row", "data-id": a.id, "data-kind": a.kind, "data-status": a.status,
      class: params.get("highlight") === a.id ? "highlight" : null },
      h("td", {}, a.kind),
      h("td", { class: "mono" }, `${a.context ? a.context + ": " : ""}${a.namespace}/${a.pod}`),
      h("td", {}, a.actor),
      h("td", {}, time(a.requestedAt)),
      h("td", {}, time(a.finishedAt)),
      h("td", { class: "status-" + a.status, testid: "action-status" }, a.status),
      h("td", { class: "mono", testid: "action-error" }, a.error || ""),
      h("td", {}, h("ul", {}, details.map((d) => h("li", {}, d)))),
      h("td", {},
        isolated ? h("button", { testid: "release-isolated", disabled: !allowed, onclick: () => guarded(async () => {
          const record = await api("POST", "/api/v1/actions", { kind: "release", namespace: a.namespace, pod: a.pod, context: a.context || null });
          location.hash = "#/actions?highlight=" + encodeURIComponent(record.id);
        }) }, "Release from isolation") : null,
        h("button", { class: "secondary", testid: "action-comments", onclick: () => guarded(() => actionComments(a.id)) }, "Comments")));
  });
  if (actions.some((a) => a.status === "Running")) refreshTimer = setTimeout(show, 1000);
  return h("div", {}, h("h2", {}, "Action center"),
    h("table", { testid: "action-table" },
      h("thead", {}, h("tr", {}, ["Action", "Pod", "By", "Requested", "Finished", "Status", "Error", "Details", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows)),
    h("div", { id: "action-detail" }));
}

async function actionComments(id) {
  const data = await api("GET", "/api/v1/actions/" + encodeURIComponent(id));
  const text = h("textarea", { rows: 2, cols: 60, testid: "action-comment" });
  document.getElementById("action-detail").replaceChildren(h("div", { class: "panel" },
    h("h3", {}, "Comments on ", h("span", { class: "mono" }, id)),
    h("ul", {}, data.comments.map((c) => h("li", {}, h("b", {}, c.author), " ", time(c.createdAt), h("div", {}, c.text)))),
    text, h("div", {}, h("button", { disabled: !can("Response: manage"), onclick: () => guarded(async () => {
      await api("POST", `/api/v1/actions/${encodeURIComponent(id)}/comments`, { text: text.value });
      await actionComments(id);
    }) }, "Add comment"))));
}

// ---------------------------------------------------------------------------------------------
// Alert type reports

async function reportsPage() {
  const catalog = await api("GET", "/api/v1/catalog");
  return h("div", {}, h("h2", {}, "Alert types"),
    h("table", {}, h("thead", {}, h("tr", {}, ["Alert", "ID", "Severity", "Plane", "Tactics"].map((t) => h("th", {}, t)))),
      h("tbody", {}, catalog.map((t) => h("tr", {},
        h("td", {}, link(route("reports", t.id), t.displayName)), h("td", { class: "mono" }, t.id),
        h("td", {}, sevCell(t.severity)), h("td", {}, t.plane), h("td", {}, t.tactics.map((x) => h("span", { class: "tag" }, x))))))));
}

async function reportPage(params, id) {
  const t = await api("GET", "/api/v1/catalog/" + encodeURIComponent(id));
  const technique = (tid) => h("a", { href: "https://attack.mitre.org/techniques/" + tid.replace(".", "/") + "/", rel: "noreferrer noopener", target: "_blank" }, tid);
  return h("div", { testid: "report" },
    h("h2", {}, t.displayName), h("p", { class: "mono" }, t.id, " · ", sevCell(t.severity), " · ", t.plane),
    h("div", { class: "panel" }, h("h3", {}, "What happened"), h("p", {}, t.description)),
    h("div", { class: "panel" }, h("h3", {}, "Why it matters"), h("p", {}, t.impact)),
    h("div", { class: "panel" }, h("h3", {}, "How to respond and prevent"), h("p", {}, t.remediation),
      t.mitigations && t.mitigations.length ? h("p", {}, "MITRE mitigations: ", t.mitigations.map((m) => h("span", { class: "tag" }, m))) : null),
    h("div", { class: "panel" }, h("h3", {}, "MITRE ATT&CK"),
      h("p", {}, "Tactics: ", t.tactics.map((x) => h("span", { class: "tag" }, x))),
      h("p", {}, "Techniques: ", t.techniques.map((x) => [technique(x), " "]))),
    t.aliases && t.aliases.length ? h("p", { class: "muted" }, "Also known as: " + t.aliases.join(", ")) : null,
    h("p", {}, link("/alerts?type=" + encodeURIComponent(t.id), "Alerts of this type")));
}

// ---------------------------------------------------------------------------------------------
// Admin

async function adminPage() {
  if (!can("Admin")) throw new Error('permission "Admin" is required to manage users and tokens');
  const [users, tokens, trail] = await Promise.all([
    api("GET", "/api/v1/users"), api("GET", "/api/v1/tokens"), api("GET", "/api/v1/audit-trail")]);
  const roles = ["reader", "analyst", "responder", "admin", "ingest"];
  const uName = h("input", { placeholder: "name", testid: "new-user-name" });
  const uPass = h("input", { type: "password", placeholder: "password (12+ chars)", testid: "new-user-password" });
  const uRole = h("select", { testid: "new-user-role" }, roles.map((r) => h("option", { value: r }, r)));
  const tName = h("input", { placeholder: "token name", testid: "new-token-name" });
  const tRole = h("select", { testid: "new-token-role" }, roles.map((r) => h("option", { value: r }, r)));
  const issued = h("pre", { testid: "issued-token" });
  return h("div", {}, h("h2", {}, "Admin"),
    h("div", { class: "panel" }, h("h3", {}, "Users"),
      h("table", {}, h("tbody", {}, users.map((u) => h("tr", {}, h("td", {}, u.name), h("td", {}, u.permissions.join(", ")),
        h("td", {}, u.disabled ? "disabled" : ""),
        h("td", {}, h("button", { class: "secondary", onclick: () => guarded(async () => {
          await api("POST", "/api/v1/users/" + encodeURIComponent(u.name), { disabled: !u.disabled });
          await show();
        }) }, u.disabled ? "Enable" : "Disable")))))),
      h("div", { class: "toolbar" }, uName, uPass, uRole, h("button", { testid: "create-user", onclick: () => guarded(async () => {
        await api("POST", "/api/v1/users", { name: uName.value, password: uPass.value, role: uRole.value });
        await show();
        flash("User created", "ok");
      }) }, "Create user"))),
    h("div", { class: "panel" }, h("h3", {}, "API tokens"),
      h("table", {}, h("tbody", {}, tokens.map((t) => h("tr", {}, h("td", { class: "mono" }, t.id), h("td", {}, t.name), h("td", {}, t.owner),
        h("td", {}, t.permissions.join(", ")), h("td", {}, t.revokedAt ? "revoked " + time(t.revokedAt) : ""),
        h("td", {}, t.revokedAt ? null : h("button", { class: "danger", onclick: () => guarded(async () => {
          await api("DELETE", "/api/v1/tokens/" + encodeURIComponent(t.id));
          await show();
        }) }, "Revoke")))))),
      h("div", { class: "toolbar" }, tName, tRole, h("button", { testid: "create-token", onclick: () => guarded(async () => {
        const t = await api("POST", "/api/v1/tokens", { name: tName.value, role: tRole.value });
        issued.textContent = "Shown once: " + t.token;
      }) }, "Create token")), issued),
    h("div", { class: "panel" }, h("h3", {}, "Audit trail"),
      h("table", { testid: "audit-trail" }, h("tbody", {}, trail.map((e) => h("tr", {}, h("td", {}, time(e.at)), h("td", {}, e.actor),
        h("td", {}, e.action), h("td", { class: "mono" }, e.target), h("td", { class: "mono" }, JSON.stringify(e.details))))))));
}
