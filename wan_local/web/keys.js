// The API keys screen: create a key (its secret shown this once, with a copy button), list the keys,
// revoke one. GET/POST /api-keys and DELETE /api-keys/{id}; the API refuses these to an API key
// itself (403), so they are made with the signed-in session's token.
//
// Other panels about keys (e.g. the webhook signing secret and the delivery log) mount in
// #keys-extra, an element this module leaves alone: `document.querySelector("#keys-extra")`.

export function mountKeys({ api, h, report, toast }) {
  const section = document.querySelector("#keys");
  const list = section.querySelector("#keys-list");
  const made = section.querySelector("#key-made");
  const form = section.querySelector("#key-form");

  function row(key) {
    const revoke = h("button", { type: "button", class: "revoke", onclick: () => revokeKey(key) }, "Revoke");
    revoke.hidden = key.status !== "active";
    return h("tr", { "data-key": key.id, "data-status": key.status },
      h("td", { class: "name" }, key.name),
      h("td", { class: "mono" }, `wan_live_${key.prefix}_…${key.last_chars}`),
      h("td", { class: "muted" }, new Date(key.created_at).toLocaleString()),
      h("td", { class: "muted" }, key.last_used_at ? new Date(key.last_used_at).toLocaleString() : "never"),
      h("td", { class: `key-status ${key.status}` }, key.status),
      h("td", {}, revoke));
  }

  async function refresh() {
    try {
      const { items } = await api.apiKeys();
      section.querySelector("#keys-empty").hidden = items.length > 0;
      list.replaceChildren(...items.map(row));
    } catch (error) {
      report(error);
    }
  }

  function showOnce(key) {
    const value = h("input", { class: "mono", readonly: true, value: key.key, "aria-label": "The new API key" });
    const copy = h("button", { type: "button", class: "copy", onclick: async () => {
      value.select();
      try {
        await navigator.clipboard.writeText(key.key);
        copy.textContent = "Copied";
      } catch {
        document.execCommand?.("copy"); // an insecure origin has no clipboard API: the selected text
        copy.textContent = "Selected: copy it";
      }
    } }, "Copy");
    made.replaceChildren(
      h("p", {}, h("strong", {}, `Your new key “${key.name}”. `),
        "Copy it now: it is shown this once, and only a hash of it is kept."),
      h("div", { class: "row key-value" }, value, copy),
      h("p", { class: "muted" }, "Send it as Authorization: Bearer <key>."));
    made.hidden = false;
  }

  async function revokeKey(key) {
    try {
      await api.revokeApiKey(key.id);
      toast(`Key “${key.name}” revoked: it no longer works.`, { kind: "info", code: "key_revoked" });
      refresh();
    } catch (error) {
      report(error);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = form.name.value.trim();
    if (!name) return;
    try {
      showOnce(await api.createApiKey(name));
      form.reset();
      refresh();
    } catch (error) {
      report(error);
    }
  });

  return {
    show() { section.hidden = false; made.hidden = true; made.replaceChildren(); refresh(); },
    hide() { section.hidden = true; made.replaceChildren(); list.replaceChildren(); },
  };
}
