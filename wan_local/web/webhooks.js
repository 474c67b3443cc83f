// The developer's webhooks panel: the signing secret (shown on request, rotated on request) and the
// delivery log of one generation with a retry per delivery. Self-contained: mountWebhooks(element,
// api) renders into `element`, which the page places where it likes (beside the API keys).
import { ApiError } from "./api.js";

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

const message = (error) => (error instanceof ApiError ? error.message : `Cannot reach the API (${error.message}).`);

export function mountWebhooks(root, api) {
  const secret = h("code", { class: "secret", "data-testid": "webhook-secret" }, "••••••••");
  const status = h("p", { class: "note", role: "status" });
  const log = h("tbody");
  const genInput = h("input", { name: "generation_id", placeholder: "generation id", autocomplete: "off", required: true });

  async function show(rotate = false) {
    try {
      const answer = rotate
        ? await api.request("POST", "/webhooks/secret/rotate")
        : await api.request("GET", "/webhooks/secret");
      secret.textContent = answer.secret;
      status.textContent = rotate ? "Rotated: for 24 hours deliveries carry a signature with the old secret too." : "";
    } catch (error) {
      status.textContent = message(error);
    }
  }

  async function load(event) {
    event?.preventDefault();
    const id = genInput.value.trim();
    if (!id) return;
    try {
      const { items } = await api.request("GET", `/generations/${encodeURIComponent(id)}/deliveries`);
      log.replaceChildren(...items.map((d) => h("tr", { "data-status": d.status },
        h("td", {}, h("code", {}, d.event_id)), h("td", {}, d.type), h("td", {}, d.status),
        h("td", {}, String(d.attempts)), h("td", {}, d.last_status_code == null ? "–" : String(d.last_status_code)),
        h("td", {}, d.next_attempt_at ? new Date(d.next_attempt_at).toLocaleString() : ""),
        h("td", {}, h("button", { type: "button", class: "link", onclick: () => retry(id, d.event_id) }, "Send again")))));
      status.textContent = items.length ? "" : "No deliveries for this generation (it has no webhook_url, or no event yet).";
    } catch (error) {
      status.textContent = message(error);
    }
  }

  async function retry(id, eventId) {
    try {
      await api.request("POST", `/generations/${encodeURIComponent(id)}/deliveries/${encodeURIComponent(eventId)}/retry`);
      status.textContent = `Sending ${eventId} again (same webhook-id).`;
      await load();
    } catch (error) {
      status.textContent = message(error);
    }
  }

  root.replaceChildren(
    h("h2", {}, "Webhooks"),
    h("p", { class: "muted" }, "Pass webhook_url (and webhook_events) on a create: each event is POSTed there, " +
      "signed with this secret (Standard Webhooks)."),
    h("p", {}, "Signing secret: ", secret, " ",
      h("button", { type: "button", class: "link", onclick: () => show(false) }, "Show"), " ",
      h("button", { type: "button", class: "link", onclick: () => show(true) }, "Rotate")),
    h("form", { class: "row", onsubmit: load }, h("label", {}, "Delivery log of ", genInput),
      h("button", { type: "submit" }, "Show deliveries")),
    h("table", { class: "deliveries" }, h("thead", {}, h("tr", {}, ...["webhook-id", "event", "status", "attempts",
      "last answer", "next attempt", ""].map((t) => h("th", {}, t)))), log),
    status,
  );
  return { show, load };
}
