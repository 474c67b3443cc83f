// The Wan Video API's TypeScript client: types generated from docs/openapi.json (src/schema.d.ts, by
// openapi-typescript), requests through openapi-fetch, and a thin layer with the Python SDK's methods
// in camelCase. Runs in browsers and Node >= 18 (global fetch).
//
// Retries (at most maxRetries, each wait at most maxRetryWait seconds): no answer, 429 and 503, after
// Retry-After when sent, else a growing backoff. A create keeps its Idempotency-Key across its retries
// (a lost answer is answered again, never charged twice); only after 503 provider_unavailable (that
// charge was already refunded) does the next attempt take a new key.
import createClient from "openapi-fetch";
import { Webhook } from "standardwebhooks";

import { API_VERSION, ROUTES } from "./routes.js";
import type { components, paths } from "./schema.js";

export type { components, paths } from "./schema.js";
export { API_VERSION, ROUTES } from "./routes.js";

type Schemas = components["schemas"];
export type Generation = Schemas["Generation"];
export type Accepted = Schemas["Accepted"];
export type RetryAccepted = Schemas["RetryAccepted"];
export type Credits = Schemas["Credits"];
export type GenerationPage = Schemas["GenerationPage"];
export type Pricing = Schemas["Pricing"];
export type Deleted = Schemas["Deleted"];
export type ErrorBody = Schemas["Error"] & Record<string, unknown>;
export type TextToVideoRequest = Schemas["TextToVideoRequest"];

export interface ClientOptions {
  /** The local stack's or a deployment's single URL, e.g. http://127.0.0.1:8000. */
  baseUrl?: string;
  /** On Modal each web function has its own URL: {account: URL, text_to_video: URL, ...} (or paths as keys). */
  endpoints?: Record<string, string>;
  /** An API key (wan_live_...) or a Supabase access token: one of the two. */
  apiKey?: string;
  token?: string;
  maxRetries?: number;
  /** Seconds. */
  maxRetryWait?: number;
  fetch?: typeof fetch;
}

export interface CreateOptions {
  negative_prompt?: string;
  seed?: number;
  aspect_ratio?: string;
  webhook_url?: string;
  webhook_events?: string[];
  idempotencyKey?: string;
  /** Seconds (Prefer: wait=N): the answer comes when the generation ends or after N s. */
  wait?: number;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly body: Record<string, unknown>;
  readonly required?: number;
  readonly balance?: number;
  readonly retryAfter?: number;

  constructor(status: number, body: Record<string, unknown>, retryAfter?: number) {
    const code = typeof body.code === "string" ? body.code : "http_error";
    const detail = typeof body.detail === "string" ? body.detail : `The API answered ${status}.`;
    super(`${status} ${code}: ${detail}`);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.body = body;
    if (typeof body.required === "number") this.required = body.required;
    if (typeof body.balance === "number") this.balance = body.balance;
    if (retryAfter !== undefined) this.retryAfter = retryAfter;
  }
}

export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebhookVerificationError";
  }
}

const RETRYABLE = new Set([429, 503]);
const TERMINAL = new Set(["succeeded", "failed", "canceled"]);
const FUNCTIONS = new Set(Object.values(ROUTES).map(([fn]) => fn));
// Path templates as patterns, to find the template (and so the function) of a concrete path.
const TEMPLATES = Object.keys(ROUTES).map(
  (template) => [template, new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`)] as const,
);

const sleep = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

function newKey(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, (ch) => {
    const r = (Math.random() * 16) | 0;
    return (ch === "x" ? r : (r & 0x3) | 0x8).toString(16);
  });
}

function retryAfterOf(response: Response): number | undefined {
  const value = response.headers.get("Retry-After");
  const seconds = value === null ? NaN : Number(value);
  return Number.isFinite(seconds) ? Math.max(0, seconds) : undefined;
}

/** One attempt's answer, read once: its status, headers and JSON body (`{}` when it has none). */
interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

async function answerOf(response: Response): Promise<Answer> {
  let body: unknown = {};
  try {
    body = JSON.parse(await response.text());
  } catch {
    body = {};
  }
  return { status: response.status, headers: response.headers, body };
}

/** openapi-fetch has read the body already: its `data` (a success) or `error` (anything else). */
function fetched(result: { data?: unknown; error?: unknown; response: Response }): Answer {
  return { status: result.response.status, headers: result.response.headers, body: result.data ?? result.error ?? {} };
}

function errorOf(answer: Answer): ApiError {
  const body = answer.body;
  const plain = body && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  const value = answer.headers.get("Retry-After");
  const seconds = value === null ? NaN : Number(value);
  return new ApiError(answer.status, plain, Number.isFinite(seconds) ? Math.max(0, seconds) : undefined);
}

export class Client {
  readonly baseUrl?: string;
  readonly endpoints: Record<string, string>;
  readonly maxRetries: number;
  readonly maxRetryWait: number;
  /** The typed openapi-fetch client itself, for any route the methods below do not cover. */
  readonly api: ReturnType<typeof createClient<paths>>;
  private readonly headers: Record<string, string>;
  private readonly fetchImpl: typeof fetch;

  constructor(options: ClientOptions = {}) {
    if (options.apiKey && options.token) throw new Error("give apiKey or token, not both");
    if (!options.baseUrl && !options.endpoints) throw new Error("give baseUrl or endpoints (Modal function URLs)");
    this.baseUrl = options.baseUrl?.replace(/\/+$/, "");
    this.endpoints = Object.fromEntries(
      Object.entries(options.endpoints ?? {}).map(([k, v]) => [k, v.replace(/\/+$/, "")]),
    );
    const unknown = Object.keys(this.endpoints).filter((k) => !(k in ROUTES) && !FUNCTIONS.has(k));
    if (unknown.length) throw new Error(`endpoints: ${unknown.join(", ")} is neither a path nor a web function of the API`);
    this.maxRetries = options.maxRetries ?? 3;
    this.maxRetryWait = options.maxRetryWait ?? 30;
    this.headers = { "X-Wan-Client": `wan-video-typescript/${API_VERSION}` };
    if (options.apiKey || options.token) this.headers.Authorization = `Bearer ${options.apiKey ?? options.token}`;
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    // openapi-fetch builds `${baseUrl}${path}`; the routed fetch below moves it to the path's function URL.
    this.api = createClient<paths>({ baseUrl: "http://wan.api", headers: this.headers, fetch: this.routedFetch });
  }

  /** The URL of one of the API's paths: below baseUrl, or below the function URL `endpoints` gives. */
  url(path: string): string {
    const template = TEMPLATES.find(([, pattern]) => pattern.test(path))?.[0];
    const [fn, below] = template ? ROUTES[template] : [undefined, path];
    const root = (template && this.endpoints[template]) ?? (fn ? this.endpoints[fn] : undefined);
    if (root === undefined) {
      if (this.baseUrl === undefined) throw new Error(`no URL for ${path}: add its function ${fn} to endpoints, or give baseUrl`);
      return this.baseUrl + path;
    }
    if (below === "/") return root; // a card function answers at its URL's root
    // The concrete path's own segments (ids) go into the function's path.
    return root + (template && below === template ? path : below);
  }

  private routedFetch = async (input: Request): Promise<Response> => {
    const incoming = new URL(input.url);
    const target = this.url(incoming.pathname) + incoming.search;
    const body = input.method === "GET" || input.method === "HEAD" ? undefined : await input.arrayBuffer();
    return this.fetchImpl(target, { method: input.method, headers: input.headers, body });
  };

  /** Sends with the retry policy above; `build` makes each attempt's request from its Idempotency-Key. */
  private async send(build: (key: string | undefined) => Promise<Answer>, key?: string): Promise<Answer> {
    for (let attempt = 0; ; attempt++) {
      let response: Answer | undefined;
      let failure: unknown;
      try {
        response = await build(key);
      } catch (error) {
        failure = error;
      }
      if (response && !RETRYABLE.has(response.status)) {
        if (response.status >= 200 && response.status < 300) return response;
        throw errorOf(response);
      }
      if (attempt >= this.maxRetries) {
        if (response) throw errorOf(response);
        throw failure;
      }
      const backoff = Math.min(this.maxRetryWait, 0.5 * 2 ** attempt);
      let wait = backoff;
      if (response) {
        const error = errorOf(response);
        wait = error.retryAfter === undefined ? backoff : Math.min(error.retryAfter, this.maxRetryWait);
        if (key !== undefined && error.code === "provider_unavailable") key = newKey();
      }
      await sleep(wait);
    }
  }

  private async json<T>(build: (key: string | undefined) => Promise<Answer>, key?: string): Promise<T> {
    return (await this.send(build, key)).body as T;
  }

  private createHeaders(key: string | undefined, wait?: number): Record<string, string> {
    return { ...(key ? { "Idempotency-Key": key } : {}), ...(wait !== undefined ? { Prefer: `wait=${Math.trunc(wait)}` } : {}) };
  }

  /** POST /text-to-video: charged and started (202). */
  textToVideo(prompt: string, options: { model: string; resolution: string } & CreateOptions): Promise<Accepted> {
    const { idempotencyKey, wait, ...fields } = options;
    const body = { prompt, ...fields } as TextToVideoRequest;
    return this.json<Accepted>(
      async (key) => fetched(await this.api.POST("/text-to-video", { body, headers: this.createHeaders(key, wait) })),
      idempotencyKey ?? newKey(),
    );
  }

  /** POST /image-to-video: `image` (and `last_image` where the model takes one) as a Blob. */
  imageToVideo(
    image: Blob,
    prompt: string,
    options: { model: string; resolution: string; last_image?: Blob } & CreateOptions,
  ): Promise<Accepted> {
    const { idempotencyKey, wait, last_image, webhook_events, ...fields } = options;
    const form = () => {
      const data = new FormData();
      data.append("image", image, "image");
      if (last_image) data.append("last_image", last_image, "last_image");
      data.append("prompt", prompt);
      for (const [name, value] of Object.entries(fields)) if (value !== undefined) data.append(name, String(value));
      if (webhook_events) data.append("webhook_events", webhook_events.join(","));
      return data;
    };
    return this.json<Accepted>(
      async (key) =>
        answerOf(await this.fetchImpl(this.url("/image-to-video"), {
          method: "POST",
          body: form(),
          headers: { ...this.headers, ...this.createHeaders(key, wait) },
        })),
      idempotencyKey ?? newKey(),
    );
  }

  status(generationId: string): Promise<Generation> {
    return this.json<Generation>(
      async () => fetched(await this.api.GET("/status", { params: { query: { generation_id: generationId } } })),
    );
  }

  /** The generation once terminal: from the status stream where the API has one, else by polling. */
  async waitFor(generationId: string, options: { timeout?: number; pollInterval?: number } = {}): Promise<Generation> {
    const deadline = Date.now() + (options.timeout ?? 600) * 1000;
    if ("/status/stream" in ROUTES) {
      const found = await this.waitStreaming(generationId, deadline);
      if (found) return found;
    }
    let interval = options.pollInterval ?? 1;
    for (;;) {
      const generation = await this.status(generationId);
      if (generation.terminal) return generation;
      const left = (deadline - Date.now()) / 1000;
      if (left <= 0) throw new Error(`generation ${generationId} is still ${generation.status} after the timeout`);
      await sleep(Math.min(interval, left));
      interval = Math.min(interval * 1.5, 10);
    }
  }

  /** The same as waitFor, by the Python SDK's name. */
  wait(generationId: string, options: { timeout?: number; pollInterval?: number } = {}): Promise<Generation> {
    return this.waitFor(generationId, options);
  }

  private async waitStreaming(generationId: string, deadline: number): Promise<Generation | undefined> {
    let lastId: string | undefined;
    while (Date.now() < deadline) {
      let response: Response;
      try {
        response = await this.fetchImpl(`${this.url("/status/stream")}?generation_id=${encodeURIComponent(generationId)}`, {
          headers: { ...this.headers, Accept: "text/event-stream", ...(lastId ? { "Last-Event-ID": lastId } : {}) },
        });
      } catch {
        return undefined;
      }
      if (response.status !== 200 || !response.body) {
        if ([404, 405, 501].includes(response.status)) return undefined;
        if (!RETRYABLE.has(response.status)) throw errorOf(await answerOf(response));
        await sleep(Math.min(retryAfterOf(response) ?? 1, this.maxRetryWait));
        continue;
      }
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      let event = "message";
      let data: string[] = [];
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let newline: number;
          while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
            const line = buffer.slice(0, newline);
            buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
            if (line === "") {
              if (event === "generation" && data.length) {
                const generation = JSON.parse(data.join("\n")) as Generation;
                if (generation.terminal || TERMINAL.has(generation.status)) return generation;
              }
              event = "message";
              data = [];
            } else if (!line.startsWith(":")) {
              const colon = line.indexOf(":");
              const name = colon < 0 ? line : line.slice(0, colon);
              const field = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
              if (name === "data") data.push(field);
              else if (name === "event") event = field;
              else if (name === "id") lastId = field;
            }
          }
          if (Date.now() >= deadline) break;
        }
      } catch {
        return undefined;
      } finally {
        await reader.cancel().catch(() => undefined);
      }
    }
    throw new Error(`generation ${generationId} did not finish in time`);
  }

  credits(): Promise<Credits> {
    return this.json<Credits>(async () => fetched(await this.api.GET("/credits")));
  }

  generations(query: { limit?: number; before?: string } & Record<string, string | number | boolean | undefined> = {}): Promise<GenerationPage> {
    return this.json<GenerationPage>(
      async () => fetched(await this.api.GET("/generations", { params: { query: query as { limit?: number; before?: string } } })),
    );
  }

  cancel(generationId: string): Promise<Generation> {
    return this.json<Generation>(
      async () => fetched(await this.api.POST("/cancel", { body: { generation_id: generationId } })),
    );
  }

  /** POST /retry: a failed or canceled generation again, as a new charged generation. */
  retry(generationId: string, options: { idempotencyKey?: string } = {}): Promise<RetryAccepted> {
    return this.json<RetryAccepted>(
      async (key) =>
        fetched(await this.api.POST("/retry", { body: { generation_id: generationId }, headers: this.createHeaders(key) })),
      options.idempotencyKey ?? newKey(),
    );
  }

  delete(generationId: string): Promise<Deleted> {
    return this.json<Deleted>(
      async () =>
        fetched(await this.api.DELETE("/generations/{generation_id}", { params: { path: { generation_id: generationId } } })),
    );
  }

  pricing(): Promise<Pricing> {
    return this.json<Pricing>(async () => fetched(await this.api.GET("/pricing")));
  }
}

/** The event of one of the API's webhook deliveries, verified with your signing secret (whsec_...);
 * throws WebhookVerificationError otherwise. Pass the raw body as received; deduplicate by webhook-id. */
export function verifyWebhook(
  body: string | Uint8Array,
  headers: Record<string, string> | Headers,
  secret: string,
): { type: string; timestamp: string; data: Generation } {
  const plain: Record<string, string> = {};
  if (typeof Headers !== "undefined" && headers instanceof Headers) headers.forEach((v, k) => (plain[k.toLowerCase()] = v));
  else for (const [k, v] of Object.entries(headers)) plain[k.toLowerCase()] = v;
  const text = typeof body === "string" ? body : new TextDecoder().decode(body);
  let event: unknown;
  try {
    event = new Webhook(secret).verify(text, plain);
  } catch (error) {
    throw new WebhookVerificationError(error instanceof Error ? error.message : String(error));
  }
  if (!event || typeof event !== "object" || !("type" in event)) throw new WebhookVerificationError("the body is not an event");
  return event as { type: string; timestamp: string; data: Generation };
}
