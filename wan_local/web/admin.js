// The operator's console: every call goes to the /admin/ endpoints beside this page (relative URLs, so
// the page works wherever `account` serves it), with the admin's access token. No secret lives here.
import { stackedBars } from "./charts.js";

const TOKEN_KEY = "wan.admin-token";
const $ = (sel) => document.querySelector(sel);
let token = sessionStorage.getItem(TOKEN_KEY);
let currentUser = null;

class ApiError extends Error {
  constructor(status, body) {
    super(typeof body?.detail === "string" ? body.detail : `The API answered ${status}.`);
    this.status = status;
    this.code = body?.code;
  }
}

async function call(method, path, { json, query, raw } = {}) {
  let url = path + (query ? `?${new URLSearchParams(query)}` : "");
  const headers = { Authorization: `Bearer ${token}` };
  if (json !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
  if (raw && response.ok) return response.text();
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { detail: text.slice(0, 200) }; }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function toast(message, kind = "") {
  const node = document.createElement("div");
  node.className = `toast ${kind}`;
  node.setAttribute("role", kind === "error" ? "alert" : "status");
  node.textContent = message;
  $("#toasts").append(node);
  setTimeout(() => node.remove(), 6000);
}

// A table from rows and [header, (row) => text|Node, className?] columns.
function table(target, rows, columns, onPick) {
  const head = `<thead><tr>${columns.map(([h, , c]) => `<th class="${c || ""}">${h}</th>`).join("")}</tr></thead>`;
  target.innerHTML = head;
  const body = document.createElement("tbody");
  for (const row of rows) {
    const tr = document.createElement("tr");
    for (const [, cell, c] of columns) {
      const td = document.createElement("td");
      if (c) td.className = c;
      const value = cell(row);
      if (value instanceof Node) td.append(value); else td.textContent = value ?? "";
      tr.append(td);
    }
    if (onPick) { tr.className = "pick"; tr.addEventListener("click", () => onPick(row)); }
    body.append(tr);
  }
  if (!rows.length) body.innerHTML = `<tr><td colspan="${columns.length}" class="muted">none</td></tr>`;
  target.append(body);
}

const time = (iso) => (iso ? iso.replace("T", " ").slice(0, 19) : "");
const pct = (v) => (v === null ? "–" : `${(v * 100).toFixed(1)} %`);

// --- overview ----------------------------------------------------------------------------------------
const METRICS = {
  success_rate: ["Generation success rate", pct, (t) => `> ${t * 100} %`],
  avg_completion_seconds: ["Average completion time", (v) => (v === null ? "–" : `${(v / 60).toFixed(1)} min`), (t) => `< ${t / 60} min`],
  webhook_delivery_rate: ["Webhook delivery rate", pct, (t) => `> ${t * 100} %`],
  credit_accuracy: ["Credit deduction accuracy", pct, () => "100 %"],
};

async function loadOverview() {
  const stats = await call("GET", "stats", { query: { since: $("#since").value } });
  const cards = Object.entries(METRICS).map(([name, [label, show, goal]]) => {
    const m = stats.metrics[name];
    const card = document.createElement("div");
    card.className = `metric ${m.met === false ? "miss" : m.met ? "met" : ""}`;
    card.dataset.metric = name;
    card.innerHTML = `<div class="muted"></div><div class="value"></div><div class="muted"></div>`;
    card.children[0].textContent = label;
    card.children[1].textContent = show(m.value);
    card.children[2].textContent = `target ${goal(m.target)} · ${m.met === null ? "no data" : m.met ? "met" : "MISSED"}`;
    return card;
  });
  $("#metrics").replaceChildren(...cards);
  $("#overview-extra").textContent = `${stats.generations} generations in the window · ${stats.in_flight} in flight now · ` +
    `${stats.ledger_discrepancies} ledger discrepancies (figures at most 30 s old)`;
  $("#overview-extra").classList.toggle("miss-text", stats.ledger_discrepancies > 0);
}

// --- analytics ---------------------------------------------------------------------------------------
async function loadAnalytics() {
  const a = await call("GET", "analytics", { query: { days: $("#days").value } });
  const every = Math.ceil(a.days.length / 10);
  const label = (d) => d.date.slice(5);
  stackedBars($("#chart-generations"), a.days.map((d) => ({ label: label(d), values: [d.succeeded, d.failed, d.canceled, d.in_flight] })),
    [{ name: "succeeded", color: "#1f8a4c" }, { name: "failed", color: "#c2352b" },
     { name: "canceled", color: "#a86400" }, { name: "in flight", color: "#3558d4" }], { labelEvery: every });
  stackedBars($("#chart-credits"), a.days.map((d) => ({ label: label(d), values: [d.credits_spent, d.credits_refunded, d.credits_sold] })),
    [{ name: "spent", color: "#3558d4" }, { name: "refunded", color: "#a86400" }, { name: "sold", color: "#1f8a4c" }],
    { labelEvery: every });
  stackedBars($("#chart-completion"), a.completion.map((b) => ({ label: b.to_seconds ? `<${b.to_seconds}s` : `${b.from_seconds}s+`, values: [b.count] })),
    [{ name: "succeeded", color: "#1f8a4c" }], { height: 150 });
  stackedBars($("#chart-hours"), a.hours.map((n, h) => ({ label: String(h), values: [n] })),
    [{ name: "generations", color: "#3558d4" }], { height: 150, labelEvery: 3 });
  table($("#models"), a.models, [["model", (m) => m.model], ["res.", (m) => m.resolution], ["kind", (m) => m.kind],
    ["total", (m) => m.generations, "num"], ["ok", (m) => m.succeeded, "num"], ["failed", (m) => m.failed, "num"]]);
  table($("#failures"), a.failure_reasons, [["code", (f) => f.error_code], ["count", (f) => f.count, "num"], ["example", (f) => f.example]]);
  const revenue = {};
  for (const d of a.days) for (const [c, n] of Object.entries(d.revenue)) revenue[c] = (revenue[c] || 0) + n;
  $("#revenue").textContent = `Revenue: ${Object.entries(revenue).map(([c, n]) => `${(n / 100).toFixed(2)} ${c.toUpperCase()}`).join(", ") || "none"}` +
    ` · busiest hours: ${a.busiest_hours.filter((h) => h.generations).map((h) => `${h.hour}:00`).join(", ") || "–"}`;
}

// --- users -------------------------------------------------------------------------------------------
async function searchUsers(q) {
  const { items } = await call("GET", "users", { query: { q } });
  table($("#user-results"), items, [["email", (u) => u.email], ["user id", (u) => u.user_id], ["balance", (u) => u.balance, "num"],
    ["blocked", (u) => (u.blocked ? "blocked" : "")], ["since", (u) => time(u.created_at)]], (u) => showUser(u.user_id));
}

async function showUser(id) {
  const u = await call("GET", `users/${id}`);
  currentUser = u;
  $("#user-detail").hidden = false;
  $("#user-title").textContent = `${u.email} (${u.user_id})`;
  const summary = $("#user-summary");
  summary.textContent = `Balance ${u.balance} credits · ${u.active_generations} in flight · since ${time(u.created_at)}`;
  if (u.blocked) {
    const b = document.createElement("span");
    b.className = "blocked";
    b.textContent = ` · BLOCKED since ${time(u.blocked_at)}: ${u.blocked_reason}`;
    summary.append(b);
  }
  $("#block-title").textContent = u.blocked ? "Unblock" : "Block";
  $("#block-button").textContent = u.blocked ? "Unblock" : "Block";
  $("#block-reason-label").hidden = u.blocked;
  table($("#user-ledger"), u.transactions, [["when", (t) => time(t.created_at)], ["type", (t) => t.type], ["amount", (t) => t.amount, "num"],
    ["balance", (t) => t.balance_after, "num"], ["description", (t) => t.description], ["by", (t) => t.actor]]);
  table($("#user-generations"), u.generations, [["when", (g) => time(g.created_at)], ["id", (g) => g.generation_id], ["model", (g) => `${g.model} ${g.resolution}`],
    ["status", (g) => g.status], ["cost", (g) => g.cost, "num"], ["refunded", (g) => (g.refunded ? "yes" : "")],
    ["", (g) => (g.status === "succeeded" && g.video_lost ? refundButton(g.generation_id) : "")]]);
  table($("#user-purchases"), u.purchases, [["when", (p) => time(p.created_at)], ["pack", (p) => p.pack_id], ["status", (p) => p.status],
    ["credits", (p) => p.credits, "num"], ["paid", (p) => `${(p.amount / 100).toFixed(2)} ${p.currency}`],
    ["reversals", (p) => p.reversals.map((r) => r.amount).join(", ")], ["unrecovered", (p) => p.unrecovered_credits, "num"]]);
  table($("#user-keys"), u.api_keys, [["name", (k) => k.name], ["key", (k) => `wan_live_${k.prefix}…${k.last_chars}`], ["status", (k) => k.status],
    ["last used", (k) => time(k.last_used_at)]]);
  table($("#user-rates"), u.rate_limits, [["bucket", (r) => r.bucket], ["window", (r) => time(r.window_start)], ["hits", (r) => r.hits, "num"]]);
}

function refundButton(generationId) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "Goodwill refund";
  button.addEventListener("click", async (event) => {
    event.stopPropagation();
    const reason = prompt("Reason for the goodwill refund?");
    if (!reason) return;
    await act(() => call("POST", `generations/${generationId}/refund`, { json: { reason } }), "Refunded.");
  });
  return button;
}

async function act(action, done) {
  try {
    await action();
    toast(done, "success");
    if (currentUser) await showUser(currentUser.user_id);
  } catch (error) {
    toast(error.message, "error");
  }
}

// --- generations and audit ---------------------------------------------------------------------------
async function loadGenerations() {
  const { items } = await call("GET", "generations", { query: { list: $("#gen-list").value } });
  table($("#gen-table"), items, [["created", (g) => time(g.created_at)], ["id", (g) => g.generation_id], ["user", (g) => g.email],
    ["status", (g) => g.status], ["replicate id", (g) => g.replicate_id], ["error", (g) => g.error], ["settled by", (g) => g.settled_by],
    ["", (g) => (g.status === "processing" || g.status === "queued" ? settleButton(g.generation_id) : "")]]);
}

function settleButton(generationId) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "Settle now";
  button.addEventListener("click", async () => {
    try {
      const r = await call("POST", `generations/${generationId}/settle`);
      toast(`Replicate asked: now ${r.status}${r.refunded ? " (refunded)" : ""}.`, "success");
      await loadGenerations();
    } catch (error) { toast(error.message, "error"); }
  });
  return button;
}

async function loadAudit() {
  const { items } = await call("GET", "audit");
  table($("#audit-table"), items, [["when", (a) => time(a.at)], ["who", (a) => a.actor], ["what", (a) => a.action],
    ["whom", (a) => a.user_id], ["generation", (a) => a.generation_id], ["amount", (a) => a.amount, "num"], ["reason", (a) => a.reason]]);
}

// --- wiring ------------------------------------------------------------------------------------------
const LOADERS = { overview: loadOverview, analytics: loadAnalytics, users: async () => {}, generations: loadGenerations, audit: loadAudit };

async function showTab(name) {
  for (const b of document.querySelectorAll(".tabs button")) b.classList.toggle("active", b.dataset.tab === name);
  for (const p of document.querySelectorAll("[data-panel]")) p.hidden = p.id !== name;
  try { await LOADERS[name](); } catch (error) { toast(error.message, "error"); }
}

async function start() {
  try {
    await loadOverview();
  } catch (error) {
    $("#signin-note").textContent = error.status === 403 ? "This account is not an admin." : error.message;
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $("#signin").hidden = true;
  $("#console").hidden = false;
  $("#sign-out").hidden = false;
}

$("#token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token = new FormData(event.target).get("token").trim();
  start();
});
$("#dev-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const email = new FormData(event.target).get("email");
  const response = await fetch("../dev/signup", { method: "POST", headers: { "Content-Type": "application/json" },
                                                  body: JSON.stringify({ email, admin: true }) });
  if (!response.ok) { $("#signin-note").textContent = "Local sign-up is only served by `wan-api dev`."; return; }
  token = (await response.json()).access_token;
  $("#who").textContent = email;
  start();
});
$("#sign-out").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); location.reload(); });
for (const b of document.querySelectorAll(".tabs button")) b.addEventListener("click", () => showTab(b.dataset.tab));
$("#since").addEventListener("change", () => loadOverview().catch((e) => toast(e.message, "error")));
$("#days").addEventListener("change", () => loadAnalytics().catch((e) => toast(e.message, "error")));
$("#gen-list").addEventListener("change", () => loadGenerations().catch((e) => toast(e.message, "error")));
$("#user-search").addEventListener("submit", (event) => {
  event.preventDefault();
  searchUsers(new FormData(event.target).get("q").trim()).catch((e) => toast(e.message, "error"));
});
$("#grant-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const amount = Number(form.get("amount"));
  act(() => call("POST", `users/${currentUser.user_id}/credits`, { json: { amount, reason: form.get("reason") } }),
      `${amount > 0 ? "Granted" : "Deducted"} ${Math.abs(amount)} credits.`).then(() => event.target.reset());
});
$("#block-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const reason = new FormData(event.target).get("reason");
  const path = `users/${currentUser.user_id}/${currentUser.blocked ? "unblock" : "block"}`;
  act(() => call("POST", path, { json: currentUser.blocked ? {} : { reason } }), currentUser.blocked ? "Unblocked." : "Blocked.")
    .then(() => event.target.reset());
});
$("#audit-csv").addEventListener("click", async () => {
  try {
    const csv = await call("GET", "audit.csv", { raw: true });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
    link.download = "admin-audit.csv";
    link.click();
  } catch (error) { toast(error.message, "error"); }
});

if (token) start();
