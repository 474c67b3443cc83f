// Advanced editing in the reference client (contract section 8): the "Extend" control of a finished
// video, the chain a video and its extensions make in the history, and the image-to-video form's
// extras that follow GET /pricing: a last-frame upload for the models whose `inputs` list last_image,
// and a duration choice (with its cost) for the models that list `durations`.
import { newKey } from "./api.js";
import { checkImage } from "./images.js";

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

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

// --- the form's extras ---------------------------------------------------------------------------
// `form`: the generate form; `getModel()`: the selected model as readPricing reads it (with the raw
// entry in `raw`); `onChange()`: called when what the form sends or costs changes.
export function formExtras(form, { getModel, onChange }) {
  const state = { lastImage: null };
  const note = h("p", { class: "note", id: "last-image-note" });
  const input = h("input", { id: "last-image-input", name: "last_image", type: "file", accept: "image/png,image/jpeg,image/webp" });
  const lastField = h("div", { id: "last-image-field", hidden: true },
    h("label", { class: "drop" }, h("span", {}, "Optional last frame: the video ends on this image."), input), note);
  const duration = h("select", { name: "duration" });
  const durationField = h("label", { id: "duration-field", hidden: true }, "Duration ", duration);
  form.querySelector("#image-field").append(lastField);
  form.resolution.closest(".row").append(durationField);

  input.addEventListener("change", async () => {
    state.lastImage = null;
    const file = input.files[0];
    note.className = "note";
    note.textContent = file ? "Checking the image…" : "";
    if (file) {
      const check = await checkImage(file);
      if (!check.ok) {
        note.className = "note error";
        note.textContent = check.message;
        input.value = "";
      } else {
        state.lastImage = file;
        note.textContent = `Last frame: ${check.type}, ${check.width}×${check.height}`;
      }
    }
    onChange();
  });
  duration.addEventListener("change", onChange);

  const takesLast = () => (getModel()?.raw?.inputs ?? []).includes("last_image");
  return {
    // After the model or resolution changed: show what this model takes.
    render() {
      const model = getModel();
      const isImage = model?.kind === "image-to-video";
      lastField.hidden = !(isImage && takesLast());
      const durations = model?.raw?.durations ?? [];
      durationField.hidden = !durations.length;
      const keep = duration.value;
      duration.replaceChildren(...durations.map((d) => {
        const cost = this.cost(model, form.resolution.value, String(d));
        return h("option", { value: String(d) }, cost != null ? `${d} s · ${plural(cost, "credit")}` : `${d} s`);
      }));
      if (durations.map(String).includes(keep)) duration.value = keep;
    },
    // The credits of the chosen variant: per resolution and duration where the model has durations.
    cost(model, resolution, seconds = duration.value) {
      const byDuration = model?.raw?.duration_costs?.[resolution];
      if (byDuration && seconds && byDuration[seconds] != null) return byDuration[seconds];
      return model?.costs?.[resolution];
    },
    fields() {
      return durationField.hidden || !duration.value ? {} : { duration: Number(duration.value) };
    },
    files() {
      return !lastField.hidden && state.lastImage ? { last_image: state.lastImage } : {};
    },
  };
}

// --- a finished video's "Extend" control, and the chain line of an extension -----------------------
// Extensions shown before their source (history pages come newest first) name it once it appears.
const waitingForSource = new Map(); // source id -> [redraw]

// `api`: the Api; `started(answer, inputs)`: show and watch the new generation; `report(error)`.
export function extendControl(gen, { api, started, report, findCard }) {
  const prompt = h("input", { name: "extend_prompt", maxlength: 2000, placeholder: "what happens next", "aria-label": "What happens next" });
  const go = h("button", { type: "submit" }, "Start");
  const panel = h("form", { class: "extend-form", hidden: true }, prompt, go);
  const button = h("button", { type: "button", class: "extend", hidden: true,
    onclick: () => { panel.hidden = !panel.hidden; if (!panel.hidden) prompt.focus(); } }, "Extend");
  const chain = h("p", { class: "chain muted", hidden: true });
  let current = gen;

  function drawChain(sourceId) {
    chain.hidden = false;
    const label = findCard(sourceId)?.querySelector(".prompt")?.textContent;
    if (!label) waitingForSource.set(sourceId, [...(waitingForSource.get(sourceId) ?? []), () => drawChain(sourceId)]);
    chain.replaceChildren("Continues ", h("a", { href: `#${sourceId}`, class: "chain-link",
      onclick: (event) => { event.preventDefault(); findCard(sourceId)?.scrollIntoView({ behavior: "smooth" }); } },
      label ? `“${label.slice(0, 60)}”` : "an earlier video"));
  }

  panel.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = prompt.value.trim();
    if (!text) return prompt.focus();
    go.disabled = true;
    try {
      // One key per click: a request lost on the network is sent again and charged once.
      const answer = await api.create(`/generations/${current.generation_id}/extend`,
        { json: { prompt: text }, idempotencyKey: newKey() });
      panel.hidden = true;
      prompt.value = "";
      const model = current.kind === "image-to-video" ? current.model : "i2v-14B";
      started(answer, { kind: "image-to-video", model, resolution: current.resolution, prompt: text,
        extends: current.generation_id });
    } catch (error) {
      report(error);
    } finally {
      go.disabled = false;
    }
  });

  return {
    elements: [button, panel],
    chain,
    update(g) {
      current = { ...current, ...g };
      button.hidden = !(g.status === "succeeded" && g.video_url && !g.expired);
      if (button.hidden) panel.hidden = true;
      if (g.extends) drawChain(g.extends);
      const waiting = waitingForSource.get(g.generation_id);
      waitingForSource.delete(g.generation_id);
      for (const redraw of waiting ?? []) redraw();
    },
  };
}
