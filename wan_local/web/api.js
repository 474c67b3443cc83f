// The Wan Video API from a browser, exactly as a deployed frontend calls it: a bearer token, JSON or
// multipart bodies, cross-origin requests (CORS), and the contract's errors
// ({"detail": "<a sentence for a person>", "code": "<machine code>", ...}).
import config from "./config.js";

const SETTINGS_KEY = "wan.api-settings";

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super(typeof body?.detail === "string" ? body.detail : `The API answered ${status}.`);
    this.status = status;
    this.code = body?.code ?? "http_error";
    this.body = body ?? {};
    this.retryAfter = retryAfter; // seconds, from the Retry-After header (429, 503)
  }
}

// Settings from the page's URL win, then those remembered from an earlier visit, then config.js.
// They are remembered because Stripe's return link and a reload do not carry the query string.
export function loadSettings(search = window.location.search) {
  const query = new URLSearchParams(search);
  let saved = {};
  try { saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) || "{}"); } catch { /* start fresh */ }
  const settings = { api: config.api, modal: config.modal, ...saved };
  for (const name of ["api", "modal"]) {
    if (query.has(name)) settings[name] = query.get(name).trim();
  }
  if (query.has("api") || query.has("modal")) localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings));
  return settings;
}

const strip = (url) => url.replace(/\/+$/, "");

// The URL of one of the contract's paths ("/credits", "/status", ...).
export function endpointUrl(settings, path) {
  if (config.endpoints?.[path]) return config.endpoints[path];
  if (settings.modal) {
    const m = strip(settings.modal);
    if (path === "/status/stream") return `${m}-generation-status.modal.run/stream`;
    const own = { "/text-to-video": "text-to-video", "/image-to-video": "image-to-video", "/status": "generation-status" };
    return own[path] ? `${m}-${own[path]}.modal.run/` : `${m}-account.modal.run${path}`;
  }
  return `${strip(settings.api || window.location.origin)}${path}`;
}

export function describeApi(settings) {
  return settings.modal ? `${strip(settings.modal)}-*.modal.run` : strip(settings.api || window.location.origin);
}

export class Api {
  constructor(settings) {
    this.settings = settings;
    this.token = null;
  }

  async request(method, path, { query, json, form, idempotencyKey } = {}) {
    let url = endpointUrl(this.settings, path);
    if (query) url += `?${new URLSearchParams(query)}`;
    const headers = {};
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
    let body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form) {
      body = form; // multipart: the browser writes the boundary itself
    }
    const response = await fetch(url, { method, headers, body });
    this.lastStatus = response.status; // e.g. /dev/signup: 201 a new user, 200 an existing one
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text.slice(0, 200) }; }
    if (!response.ok) {
      const retryAfter = Number(response.headers.get("Retry-After")) || null; // exposed by the API's CORS
      throw new ApiError(response.status, data, retryAfter);
    }
    return data;
  }

  // A create with an Idempotency-Key: a request lost on the network is sent again with the same key,
  // so the server charges once whether or not the first one arrived.
  async create(path, options, attempts = 3) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.request("POST", path, options);
      } catch (error) {
        if (error instanceof ApiError || attempt >= attempts) throw error;
        await sleep(500 * attempt);
      }
    }
  }

  signup(email) { return this.request("POST", "/dev/signup", { json: { email } }); }
  pricing() { return this.request("GET", "/pricing"); }
  credits() { return this.request("GET", "/credits"); }
  status(id) { return this.request("GET", "/status", { query: { generation_id: id } }); }
  generations(limit, before, filters = {}) {
    return this.request("GET", "/generations", { query: { limit, ...(before ? { before } : {}), ...filters } });
  }
  cancel(id) { return this.request("POST", "/cancel", { json: { generation_id: id } }); }
  retry(id) { return this.create("/retry", { json: { generation_id: id }, idempotencyKey: newKey() }); }
  textToVideo(fields) { return this.create("/text-to-video", { json: fields, idempotencyKey: newKey() }); }
  imageToVideo(fields, image, files = {}) {
    const form = new FormData();
    form.append("image", image, image.name || "image");
    for (const [name, file] of Object.entries(files)) form.append(name, file, file.name || name); // e.g. last_image
    for (const [name, value] of Object.entries(fields)) form.append(name, String(value));
    return this.create("/image-to-video", { form, idempotencyKey: newKey() });
  }
  checkout(packId) { return this.create("/checkout", { json: { pack_id: packId }, idempotencyKey: newKey() }); }
  checkoutStatus(sessionId) { return this.request("GET", "/checkout/status", { query: { session_id: sessionId } }); }
  deleteGeneration(id) { return this.request("DELETE", `/generations/${encodeURIComponent(id)}`); }
  deleteGenerations(ids) { return this.request("POST", "/generations/delete", { json: { generation_ids: ids } }); }
  apiKeys() { return this.request("GET", "/api-keys"); }
  createApiKey(name) { return this.request("POST", "/api-keys", { json: { name } }); }
  revokeApiKey(id) { return this.request("DELETE", `/api-keys/${encodeURIComponent(id)}`); }
}

// crypto.randomUUID exists only in secure contexts (https, localhost); getRandomValues everywhere.
export const newKey = () => crypto.randomUUID?.() ??
  Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
