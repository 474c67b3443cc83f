// The reference web client: sign up, pick a model from GET /pricing, make a video from a prompt or an
// image, watch it through GET /status, cancel or retry it, browse the history, buy credits.
// Everything it knows about the API is in api.js; everything it shows comes from the API's answers.
import { Api, ApiError, describeApi, loadSettings, sleep } from "./api.js";
import { checkImage } from "./images.js";
import { mountKeys } from "./keys.js";
import { extendControl, formExtras } from "./editing.js";
import { formatPrice, readPricing } from "./pricing.js";
import { decorateCard, historyQuery, initLibrary } from "./library.js";
import { followStatus } from "./stream.js";
import { mountWebhooks } from "./webhooks.js";

const HISTORY_PAGE = 10;
const POLL_FIRST_MS = 1000;     // then ×1.5 per answer, up to POLL_MAX_MS
const POLL_MAX_MS = 5000;
const POLL_ERROR_MAX_MS = 30000; // after errors: ×2, honouring Retry-After
const CHECKOUT_KEY = "wan.checkout-session";

const settings = loadSettings();
const api = new Api(settings);
const tokenKey = `wan.token:${describeApi(settings)}`; // a token is only ever sent to the API that issued it
const state = { pricing: { models: [], packs: [] }, credits: null, cursor: null, image: null, cards: new Map(), watching: new Set(),
  activeLimit: null }; // activeLimit: how many were in progress when the API last said "too many"

const $ = (selector) => document.querySelector(selector);
const form = $("#generate-form");
const extras = formExtras(form, { getModel: () => selectedModel(), onChange: () => updateCost() }); // last frame, duration

// --- small helpers -------------------------------------------------------------------------------
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : value);
  }
  el.append(...children.filter((c) => c != null));
  return el;
}

// The same message again (three 429s in a row) is one toast with a count, not a stack of them.
function toast(message, { kind = "error", code } = {}) {
  const lifetime = kind === "error" ? 15000 : 8000;
  const same = [...$("#toasts").children].find((t) => t.dataset.message === message && t.dataset.kind === kind);
  if (same) {
    same.dataset.count = Number(same.dataset.count) + 1;
    same.querySelector(".count").textContent = `×${same.dataset.count}`;
    clearTimeout(same.timer);
    same.timer = setTimeout(() => same.remove(), lifetime);
    return;
  }
  const el = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status", "data-code": code,
    "data-kind": kind, "data-count": 1 },
    h("span", {}, message), h("b", { class: "count" }),
    h("button", { type: "button", class: "link", "aria-label": "Dismiss", onclick: () => el.remove() }, "×"));
  el.dataset.message = message;
  $("#toasts").append(el);
  el.timer = setTimeout(() => el.remove(), lifetime);
}

// An error as the person should read it: the API's own `detail`, or why the API could not be reached.
function report(error) {
  if (error instanceof ApiError) {
    toast(error.message, { code: error.code });
    if (error.status === 401 && api.token) signOut();
    if (error.status === 402 && state.pricing.packs.length) $("#buy").scrollIntoView({ behavior: "smooth" });
    if (error.code === "too_many_active_generations") { state.activeLimit = Math.max(1, activeCount()); updateCost(); }
  } else {
    toast(`Cannot reach the API at ${describeApi(settings)} (${error.message}).`, { code: "network_error" });
    console.error(error);
  }
}

const kindLabel = (kind) => ({ "text-to-video": "Text", "image-to-video": "Image" })[kind] ?? kind;
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

// --- account -------------------------------------------------------------------------------------
function signIn(token, email) {
  api.token = token;
  localStorage.setItem(tokenKey, JSON.stringify({ token, email }));
  $("#signup").hidden = true;
  for (const id of ["#studio", "#history-section", "#account", "#webhooks"]) $(id).hidden = false;
  $("#email").textContent = email ?? "";
  $("#buy").hidden = !state.pricing.packs.length;
  keys.show();
  mountWebhooks($("#webhooks"), api); // the developer's webhook secret and delivery log (webhooks.js)
  refreshCredits();
  loadHistory(true);
}

function signOut() {
  api.token = null;
  localStorage.removeItem(tokenKey);
  state.cards.clear(); // watchers stop when their card is gone
  $("#history").replaceChildren();
  for (const id of ["#studio", "#history-section", "#account", "#buy", "#low-balance", "#webhooks"]) $(id).hidden = true;
  keys.hide();
  $("#signup").hidden = false;
}

async function refreshCredits() {
  try {
    showCredits(await api.credits());
  } catch (error) {
    report(error);
  }
}

function showCredits(credits) {
  state.credits = credits;
  $("#balance").textContent = plural(credits.balance, "credit");
  $("#balance").dataset.balance = credits.balance;
  // low_balance is the API's rule (< 5); a balance that cannot pay for the cheapest video warns too.
  const costs = state.pricing.models.flatMap((m) => Object.values(m.costs));
  const cheapest = costs.length ? Math.min(...costs) : null;
  const cannotPay = cheapest != null && credits.balance < cheapest;
  const banner = $("#low-balance");
  banner.hidden = !credits.low_balance && !cannotPay;
  banner.textContent = banner.hidden ? "" : `Low on credits: ${plural(credits.balance, "credit")} left` +
    (cannotPay ? `, and the cheapest video costs ${cheapest}.` : ".") + (state.pricing.packs.length ? " Buy more below." : "");
  updateCost();
}

$("#signup-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const email = event.target.email.value.trim();
  try {
    const answer = await api.signup(email);
    signIn(answer.access_token, email);
    if (api.lastStatus === 200) { // the email already had an account: signed in to it, nothing new made
      toast(`${email} already has an account: you are signed in to it.`, { kind: "info", code: "existing_account" });
    }
  } catch (error) {
    report(error);
  }
});

$("#token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn(event.target.token.value.trim(), null);
});

$("#sign-out").addEventListener("click", signOut);

// --- the form: choices from GET /pricing ---------------------------------------------------------
function renderKinds() {
  const kinds = [...new Set(state.pricing.models.map((m) => m.kind))];
  $("#kinds").replaceChildren(h("legend", {}, "From"), ...kinds.map((kind, i) =>
    h("label", { class: "kind" }, h("input", { type: "radio", name: "kind", value: kind, checked: i === 0, onchange: renderModels }),
      ` ${kindLabel(kind)}`)));
  renderModels();
}

const selectedKind = () => form.querySelector("input[name=kind]:checked")?.value;
const selectedModel = () => state.pricing.models.find((m) => m.name === form.model.value);

function options(select, values, label = (v) => v, keep = select.value) {
  select.replaceChildren(...values.map(([value, text]) => h("option", { value }, label(text ?? value))));
  if (values.some(([value]) => value === keep)) select.value = keep;
}

function renderModels() {
  const kind = selectedKind();
  options(form.model, state.pricing.models.filter((m) => m.kind === kind).map((m) => [m.name, m.label ? `${m.name} — ${m.label}` : m.name]));
  $("#image-field").hidden = kind !== "image-to-video";
  renderResolutions();
}

function renderResolutions() {
  const model = selectedModel();
  if (!model) return updateCost();
  options(form.resolution, model.resolutions.map((r) => [r, model.costs[r] != null ? `${r} · ${plural(model.costs[r], "credit")}` : r]));
  const automatic = model.kind === "image-to-video" ? "Automatic (follows the image)" : "Automatic";
  options(form.aspect_ratio, [["", automatic], ...model.aspectRatios(form.resolution.value).map((a) => [a])]);
  extras.render();
  updateCost();
}

form.model.addEventListener("change", renderResolutions);
form.resolution.addEventListener("change", renderResolutions);
form.prompt.addEventListener("input", updateCost);

function updateCost() {
  const model = selectedModel();
  const cost = extras.cost(model, form.resolution.value);
  const balance = state.credits?.balance;
  const line = $("#cost");
  line.classList.toggle("warning", cost != null && balance != null && balance < cost);
  line.textContent = cost == null ? "" : `Costs ${plural(cost, "credit")}` +
    (balance == null ? "." : balance < cost ? ` — you have ${balance}, not enough.` : ` · you have ${balance}.`);
  const needsImage = selectedKind() === "image-to-video";
  const atLimit = state.activeLimit != null && activeCount() >= state.activeLimit;
  if (state.activeLimit != null && !atLimit) state.activeLimit = null; // one ended: try again
  if (atLimit) {
    line.classList.add("warning");
    line.textContent += ` ${plural(activeCount(), "video")} in progress, the most at once: Generate comes back when one ends.`;
  }
  $("#generate").disabled = !model || !form.prompt.value.trim() || (needsImage && !state.image) || atLimit;
}

const activeCount = () => [...state.cards.values()].filter((c) => !c.terminal).length;

// --- the image: checked and previewed before anything is sent -----------------------------------
async function chooseImage(file) {
  state.image = null;
  const note = $("#image-note");
  const preview = $("#preview");
  preview.hidden = true;
  note.className = "note";
  note.textContent = file ? "Checking the image…" : "";
  updateCost();
  if (!file) return;
  const check = await checkImage(file);
  if (!check.ok) {
    note.className = "note error";
    note.textContent = check.message;
    $("#image-input").value = "";
    return;
  }
  state.image = file;
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  note.textContent = `${check.type}, ${check.width}×${check.height}, ${(file.size / 1024).toFixed(0)} KB` +
    (check.height > check.width ? " — portrait: the video will be 9:16 unless you choose." : "");
  updateCost();
}

$("#image-input").addEventListener("change", (event) => chooseImage(event.target.files[0]));
const drop = $("#drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  if (event.dataTransfer.files[0]) chooseImage(event.dataTransfer.files[0]);
});

// --- generate ------------------------------------------------------------------------------------
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const kind = selectedKind();
  const fields = { prompt: form.prompt.value.trim(), model: form.model.value, resolution: form.resolution.value };
  if (form.aspect_ratio.value) fields.aspect_ratio = form.aspect_ratio.value;
  if (form.negative_prompt.value.trim()) fields.negative_prompt = form.negative_prompt.value.trim();
  if (form.seed.value !== "") fields.seed = Number(form.seed.value);
  Object.assign(fields, extras.fields());
  const button = $("#generate");
  button.disabled = true;
  button.textContent = "Sending…";
  try {
    const answer = kind === "image-to-video" ? await api.imageToVideo(fields, state.image, extras.files()) : await api.textToVideo(fields);
    started(answer, { kind, ...fields });
  } catch (error) {
    report(error);
  } finally {
    button.textContent = "Generate";
    updateCost();
  }
});

// A 202 from create or retry: a card at the top, watched until it ends.
function started(answer, inputs) {
  const now = new Date().toISOString();
  showCard({ ...inputs, generation_id: answer.generation_id, status: answer.status, cost: answer.cost, progress: 0,
    terminal: false, refunded: false, video_url: null, error: null, created_at: now }, { first: true });
  refreshCredits();
  watch(answer.generation_id);
}

// --- generations: cards, polling with backoff, cancel, retry --------------------------------------
function showCard(gen, { first = false } = {}) {
  let card = state.cards.get(gen.generation_id);
  if (!card) {
    card = buildCard(gen);
    state.cards.set(gen.generation_id, card);
    if (first) $("#history").prepend(card.root);
    else $("#history").append(card.root);
  }
  const ended = !card.terminal && gen.terminal;
  card.update(gen);
  $("#history-empty").hidden = state.cards.size > 0;
  if (ended || state.activeLimit != null) updateCost(); // a slot may have freed up
}

function buildCard(gen) {
  const els = {
    status: h("span", { class: "status" }),
    progress: h("div", { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100 }, h("div", { class: "bar" })),
    percent: h("span", { class: "percent" }),
    video: h("video", { controls: true, muted: true, playsinline: true, preload: "auto", hidden: true }),
    error: h("p", { class: "error", hidden: true }),
    cancel: h("button", { type: "button", class: "cancel", onclick: () => cancel(gen.generation_id) }, "Cancel"),
    retry: h("button", { type: "button", class: "retry", onclick: () => retry(gen.generation_id) }, "Retry"),
    link: h("a", { class: "open", target: "_blank", rel: "noopener", hidden: true }, "Open video"),
    remove: h("button", { type: "button", class: "delete", onclick: () => deleteOne(gen.generation_id) }, "Delete"),
    select: h("input", { type: "checkbox", class: "select-one", "aria-label": "Select to delete", onchange: updateBulk }),
    retryOf: h("p", { class: "retry-of", hidden: true }),
    retried: h("p", { class: "retried-note", hidden: true }),
  };
  els.video.muted = true; // the attribute alone does not mute; a muted video may start without a click
  const extend = extendControl(gen, { api, started, report, findCard: (id) => state.cards.get(id)?.root });
  const root = h("article", { class: "card", "data-id": gen.generation_id },
    h("div", { class: "card-head" }, els.status,
      h("span", { class: "meta" }, `${kindLabel(gen.kind)} · ${gen.model} · ${gen.resolution}`),
      h("time", { datetime: gen.created_at }, new Date(gen.created_at).toLocaleString())),
    h("p", { class: "prompt" }, gen.prompt), els.retryOf, extend.chain,
    h("div", { class: "progress-row" }, els.progress, els.percent),
    els.video, els.error, els.retried,
    h("div", { class: "actions" }, els.cancel, els.retry, els.link, ...extend.elements, els.remove,
      h("label", { class: "select" }, els.select, " select")));
  const card = { root, terminal: false, retriedAs: null, selected: () => els.select.checked && !els.select.closest("label").hidden };
  const library = decorateCard(root, gen); // star, share, select (library.js)
  const update = (g) => {
    library(g);
    card.terminal = g.terminal;
    root.dataset.status = g.status;
    extend.update(g);
    const refund = g.refunded ? ` · ${plural(g.cost, "credit")} refunded` : "";
    els.status.textContent = g.status + refund;
    els.status.className = `status ${g.status}`;
    const percent = g.status === "succeeded" ? 100 : Math.max(0, Math.min(100, g.progress ?? 0));
    els.progress.setAttribute("aria-valuenow", percent);
    els.progress.firstChild.style.width = `${percent}%`;
    els.percent.textContent = `${percent} %`;
    els.cancel.hidden = g.terminal;
    // Once retried, the retry is the card to follow: this one says so instead of offering it again.
    els.retry.hidden = !["failed", "canceled"].includes(g.status) || card.retriedAs != null;
    els.retried.hidden = card.retriedAs == null;
    els.retried.textContent = card.retriedAs ? "Retried: the new attempt is at the top." : "";
    if (g.retry_of) {
      const original = state.cards.get(g.retry_of);
      els.retryOf.hidden = false;
      els.retryOf.textContent = `Retry of ${original ? `the ${original.status} video` : "an earlier video"} ` +
        `(${g.retry_of.slice(0, 8)})`;
    }
    els.remove.hidden = !g.terminal; // running ones are canceled first (the API refuses them)
    els.select.closest("label").hidden = !g.terminal;
    card.status = g.status;
    els.error.hidden = !g.error;
    els.error.textContent = g.error ?? "";
    // Set the source once: each answer signs the URL anew, and a new src would restart the video.
    if (g.video_url && !els.video.getAttribute("src")) {
      els.video.src = g.video_url;
      els.video.hidden = false;
      els.link.href = g.video_url;
      els.link.hidden = false;
    }
  };
  card.update = update;
  card.retried = (newId) => { card.retriedAs = newId; update({ ...card.last }); };
  const remember = update;
  card.update = (g) => { card.last = g; remember(g); };
  return card;
}

async function watch(id) {
  if (state.watching.has(id)) return;
  state.watching.add(id);
  let delay = POLL_FIRST_MS;
  try {
    // The status stream first (an event per change); polling below when it is not available.
    const alive = () => Boolean(api.token && state.cards.has(id));
    if (await followStatus(api, id, { onGeneration: showCard, alive })) return refreshCredits();
    while (api.token && state.cards.has(id)) {
      await sleep(delay);
      if (!state.cards.has(id)) return;
      try {
        const gen = await api.status(id);
        showCard(gen);
        if (gen.terminal) return refreshCredits();
        delay = Math.min(delay * 1.5, POLL_MAX_MS);
      } catch (error) {
        if (error instanceof ApiError && [401, 403, 404].includes(error.status)) return report(error);
        delay = Math.min(Math.max(delay * 2, (error.retryAfter ?? 0) * 1000), POLL_ERROR_MAX_MS);
      }
    }
  } finally {
    state.watching.delete(id);
  }
}

async function cancel(id) {
  try {
    showCard(await api.cancel(id));
    refreshCredits();
  } catch (error) {
    report(error);
  }
}

async function retry(id) {
  const old = state.cards.get(id);
  try {
    const answer = await api.retry(id);
    const gen = await api.status(answer.generation_id).catch(() => null);
    old?.retried(answer.generation_id);
    started(answer, gen ?? { kind: "", model: "", resolution: "", retry_of: id,
      prompt: old?.root.querySelector(".prompt").textContent });
  } catch (error) {
    report(error);
  }
}

// --- deleting: one card's Delete, or the selected ones in one request -----------------------------
function forget(id) {
  state.cards.get(id)?.root.remove();
  state.cards.delete(id);
  $("#history-empty").hidden = state.cards.size > 0;
  updateBulk();
}

async function deleteOne(id) {
  try {
    await api.deleteGeneration(id);
    forget(id);
    toast("Video deleted.", { kind: "info", code: "deleted" });
  } catch (error) {
    report(error);
  }
}

function selectedIds() {
  return [...state.cards].filter(([, card]) => card.selected()).map(([id]) => id);
}

function updateBulk() {
  const ids = selectedIds();
  $("#bulk").hidden = ids.length === 0;
  $("#bulk-count").textContent = `${plural(ids.length, "video")} selected`;
}

$("#delete-checked").addEventListener("click", async () => {
  const ids = selectedIds();
  if (!ids.length) return;
  try {
    const answer = await api.deleteGenerations(ids);
    for (const id of answer.deleted) forget(id);
    for (const refusal of answer.errors) toast(refusal.detail, { code: refusal.code });
    if (answer.deleted.length) toast(`${plural(answer.deleted.length, "video")} deleted.`, { kind: "info", code: "deleted" });
  } catch (error) {
    report(error);
  }
});

// --- history, newest first; "load more" passes next_cursor back as `before` ------------------------
async function loadHistory(reset) {
  if (reset) {
    state.cursor = null;
    state.cards.clear();
    $("#history").replaceChildren();
  }
  const button = $("#load-more");
  button.disabled = true;
  try {
    const page = await api.generations(HISTORY_PAGE, state.cursor, historyQuery());
    for (const gen of page.items) {
      showCard(gen);
      if (!gen.terminal) watch(gen.generation_id);
    }
    state.cursor = page.next_cursor;
    button.hidden = !page.next_cursor;
    $("#history-empty").hidden = state.cards.size > 0;
  } catch (error) {
    report(error);
  } finally {
    button.disabled = false;
  }
}

$("#load-more").addEventListener("click", () => loadHistory(false));

const keys = mountKeys({ api, h, report, toast }); // the API keys screen (keys.js)

// --- buying credits (shown only when GET /pricing lists packs) -----------------------------------
function renderPacks() {
  $("#packs").replaceChildren(...state.pricing.packs.map((pack) =>
    h("button", { type: "button", class: "pack", "data-pack": pack.pack_id, onclick: () => buy(pack.pack_id) },
      h("strong", {}, plural(pack.credits, "credit")), h("span", {}, formatPrice(pack.amount, pack.currency)))));
}

async function buy(packId) {
  try {
    const session = await api.checkout(packId);
    sessionStorage.setItem(CHECKOUT_KEY, session.session_id);
    window.location.assign(session.checkout_url); // Stripe's page; it sends the browser back here
  } catch (error) {
    report(error);
  }
}

// Back from Checkout: the success page's call also grants the credits if the webhook has not yet.
async function finishCheckout() {
  const query = new URLSearchParams(window.location.search);
  const sessionId = query.get("session_id") || sessionStorage.getItem(CHECKOUT_KEY);
  if (!sessionId || !api.token) return;
  sessionStorage.removeItem(CHECKOUT_KEY);
  for (const name of ["session_id", "checkout"]) query.delete(name);
  window.history.replaceState(null, "", `${window.location.pathname}${query.size ? `?${query}` : ""}`);
  try {
    const answer = await api.checkoutStatus(sessionId);
    const messages = {
      credited: [`Payment received: ${plural(answer.credits, "credit")} added.`, "success"],
      paid: ["Payment received; the credits are on their way.", "success"],
      open: ["The payment was not completed; nothing was charged.", "info"],
      expired: ["The checkout expired; nothing was charged.", "info"],
      failed: ["The payment failed; nothing was charged.", "error"],
      reversed: ["This purchase was refunded or disputed, so its credits were taken back.", "info"],
    };
    const [message, kind] = messages[answer.status] ?? [`Checkout status: ${answer.status}.`, "info"];
    toast(message, { kind, code: `checkout_${answer.status}` });
    refreshCredits();
  } catch (error) {
    report(error);
  }
}

// --- start ---------------------------------------------------------------------------------------
async function start() {
  $("#api-base").textContent = `API: ${describeApi(settings)}`;
  try {
    state.pricing = readPricing(await api.pricing());
  } catch (error) {
    report(error);
  }
  renderKinds();
  renderPacks();
  initLibrary({ api, reload: () => loadHistory(true), toast, report, h });
  let saved = null;
  try { saved = JSON.parse(localStorage.getItem(tokenKey) || "null"); } catch { /* signed out */ }
  if (saved?.token) {
    signIn(saved.token, saved.email);
    finishCheckout();
  } else {
    signOut();
  }
  document.body.dataset.ready = "true";
}

start();
