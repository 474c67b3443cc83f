// The library on the history (issue 25): a favorite star on each card, a filter bar and search box
// (GET /generations' favorite, status, kind and q), share / unshare with a copy-link button, and a
// select mode for deleting or downloading several videos at once (a streamed zip).
import { ApiError, endpointUrl } from "./api.js";

const SEARCH_DELAY_MS = 300; // typing in the search box reloads the history once the typing pauses
const filters = { favorite: false, status: "", kind: "", q: "" };
const selected = new Set();
let ctx = null; // { api, reload, toast, report, h } from app.js
let selecting = false;
let searchTimer = null;

const $ = (selector) => document.querySelector(selector);

export function initLibrary(context) {
  ctx = context;
  const { h } = ctx;
  const bar = $("#library-bar");
  const search = h("input", { type: "search", id: "history-q", placeholder: "Search your prompts", "aria-label": "Search your prompts",
    oninput: (e) => { filters.q = e.target.value; clearTimeout(searchTimer); searchTimer = setTimeout(reload, SEARCH_DELAY_MS); } });
  const choice = (id, label, values, key) => h("select", { id, "aria-label": label, onchange: (e) => { filters[key] = e.target.value; reload(); } },
    ...values.map(([value, text]) => h("option", { value }, text)));
  bar.replaceChildren(
    h("div", { class: "row filters" }, search,
      choice("history-status", "Status", [["", "Any status"], ["succeeded", "Succeeded"], ["processing", "Processing"],
        ["queued", "Queued"], ["failed", "Failed"], ["canceled", "Canceled"]], "status"),
      choice("history-kind", "Kind", [["", "Any kind"], ["text-to-video", "From text"], ["image-to-video", "From an image"]], "kind"),
      h("label", { class: "kind" }, h("input", { type: "checkbox", id: "history-favorites",
        onchange: (e) => { filters.favorite = e.target.checked; reload(); } }), " ★ Favorites only"),
      h("button", { type: "button", id: "select-mode", class: "secondary", onclick: () => setSelecting(!selecting) }, "Select")),
    h("div", { class: "row selection", id: "selection-bar", hidden: true },
      h("span", { id: "selection-count", class: "muted" }, "0 selected"),
      h("button", { type: "button", id: "download-selected", onclick: downloadSelected }, "Download zip"),
      h("button", { type: "button", id: "delete-selected", class: "danger", onclick: deleteSelected }, "Delete"),
      h("button", { type: "button", class: "link", onclick: () => setSelecting(false) }, "Done")));
}

// GET /generations' filters, only those set.
export function historyQuery() {
  const query = {};
  if (filters.favorite) query.favorite = "true";
  if (filters.status) query.status = filters.status;
  if (filters.kind) query.kind = filters.kind;
  if (filters.q.trim()) query.q = filters.q.trim();
  return query;
}

function reload() {
  selected.clear();
  updateSelection();
  ctx.reload();
}

function setSelecting(on) {
  selecting = on;
  if (!on) selected.clear();
  document.body.classList.toggle("selecting", on);
  $("#selection-bar").hidden = !on;
  $("#select-mode").textContent = on ? "Selecting…" : "Select";
  for (const box of document.querySelectorAll(".card .pick input")) box.checked = selected.has(box.value);
  updateSelection();
}

function updateSelection() {
  const count = $("#selection-count");
  if (!count) return;
  count.textContent = `${selected.size} selected`;
  $("#download-selected").disabled = selected.size === 0;
  $("#delete-selected").disabled = selected.size === 0;
}

// The library's parts of one card; returns its update(gen), which app.js calls with every answer.
export function decorateCard(root, gen) {
  const { h } = ctx;
  const id = gen.generation_id;
  const star = h("button", { type: "button", class: "star link", "aria-pressed": "false", title: "Favorite",
    onclick: () => toggleFavorite() }, "☆");
  const pick = h("label", { class: "pick" }, h("input", { type: "checkbox", value: id, "aria-label": "Select",
    onchange: (e) => { if (e.target.checked) selected.add(id); else selected.delete(id); updateSelection(); } }));
  const shareButton = h("button", { type: "button", class: "share", onclick: () => share() }, "Share");
  const linkBox = h("input", { class: "share-link", readonly: true, "aria-label": "Share link" });
  const copy = h("button", { type: "button", class: "copy-link", onclick: () => copyLink() }, "Copy link");
  const unshare = h("button", { type: "button", class: "unshare link", onclick: () => unshareIt() }, "Unshare");
  const shared = h("span", { class: "shared", hidden: true }, linkBox, copy, unshare);
  root.querySelector(".card-head").prepend(pick, star);
  root.querySelector(".actions").append(shareButton, shared);
  let current = gen;

  const update = (g) => {
    current = { ...current, ...g };
    star.textContent = current.favorite ? "★" : "☆";
    star.setAttribute("aria-pressed", current.favorite ? "true" : "false");
    star.title = current.favorite ? "Remove from favorites" : "Add to favorites";
    root.classList.toggle("favorite", !!current.favorite);
    const shareable = current.status === "succeeded" && !!current.video_url;
    shareButton.hidden = !shareable || !!current.share_url;
    shared.hidden = !current.share_url;
    linkBox.value = current.share_url ?? "";
  };

  async function toggleFavorite() {
    try {
      const answer = await ctx.api.request(current.favorite ? "DELETE" : "PUT", `/generations/${id}/favorite`);
      update({ favorite: answer.favorite });
    } catch (error) { ctx.report(error); }
  }

  async function share() {
    try {
      const answer = await ctx.api.request("POST", `/generations/${id}/share`);
      update({ share_url: answer.share_url });
      await copyLink();
    } catch (error) { ctx.report(error); }
  }

  async function copyLink() {
    try {
      await navigator.clipboard.writeText(linkBox.value);
      ctx.toast("Link copied.", { kind: "success", code: "link_copied" });
    } catch {
      linkBox.select(); // no clipboard here (an insecure origin): the link is selected to copy by hand
      ctx.toast("Select the link and copy it.", { kind: "info", code: "link_selected" });
    }
  }

  async function unshareIt() {
    try {
      await ctx.api.request("DELETE", `/generations/${id}/share`);
      update({ share_url: null });
      ctx.toast("The link no longer works.", { kind: "success", code: "link_revoked" });
    } catch (error) { ctx.report(error); }
  }

  update(gen);
  return update;
}

async function deleteSelected() {
  const ids = [...selected];
  if (!ids.length) return;
  try {
    const answer = await ctx.api.request("POST", "/generations/delete", { json: { generation_ids: ids } });
    const refused = answer.errors.length ? ` ${answer.errors.length} could not be deleted: ${answer.errors[0].detail}` : "";
    ctx.toast(`${answer.deleted.length} deleted.${refused}`, { kind: answer.errors.length ? "error" : "success", code: "deleted" });
    setSelecting(false);
    ctx.reload();
  } catch (error) { ctx.report(error); }
}

// The zip streams from the API; the browser saves it as a file.
async function downloadSelected() {
  const ids = [...selected];
  if (!ids.length) return;
  const button = $("#download-selected");
  button.disabled = true;
  button.textContent = "Preparing…";
  try {
    const response = await fetch(endpointUrl(ctx.api.settings, "/generations/download"), {
      method: "POST", body: JSON.stringify({ generation_ids: ids }),
      headers: { Authorization: `Bearer ${ctx.api.token}`, "Content-Type": "application/json" },
    });
    if (!response.ok) {
      let body = null;
      try { body = await response.json(); } catch { /* not JSON */ }
      throw new ApiError(response.status, body, Number(response.headers.get("Retry-After")) || null);
    }
    const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") ?? "")?.[1] ?? "wan-videos.zip";
    const url = URL.createObjectURL(await response.blob());
    const a = ctx.h("a", { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    ctx.toast(`Downloading ${name}.`, { kind: "success", code: "download_started" });
  } catch (error) {
    ctx.report(error);
  } finally {
    button.textContent = "Download zip";
    updateSelection();
  }
}
