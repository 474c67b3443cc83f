// The TypeScript SDK against a real local stack, with Node's test runner (npm test).
// WAN_API_URL: a running stack (tests/test_sdks.py passes its own); without it this file starts
// `wan-api dev` from the project's .venv on a free port, with its own data directory, and stops it.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { Webhook } from "standardwebhooks";

import { ApiError, Client, ROUTES, WebhookVerificationError, verifyWebhook } from "../dist/index.js";

const PROJECT = resolve(fileURLToPath(import.meta.url), "../../../..");
let url = process.env.WAN_API_URL;
let dev;
let dataDir;

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
    server.on("error", fail);
  });
}

before(async () => {
  if (url) return;
  const port = await freePort();
  dataDir = mkdtempSync(join(tmpdir(), "wan-sdk-"));
  chmodSync(dataDir, 0o711); // the embedded Postgres runs as its own user, which must enter it
  const env = { ...process.env, WAN_DATA_DIR: dataDir, WAN_EMULATOR_RUN_SECONDS: "0.25" };
  delete env.DATABASE_URL;
  delete env.REPLICATE_API_TOKEN;
  dev = spawn(join(PROJECT, ".venv/bin/wan-api"), ["dev", "--port", String(port)], { env, stdio: ["ignore", "pipe", "inherit"] });
  await new Promise((ready, fail) => {
    let seen = "";
    dev.stdout.on("data", (chunk) => {
      seen += chunk;
      if (seen.includes("ready (Ctrl-C to stop)")) ready();
    });
    dev.on("close", (code) => fail(new Error(`wan-api dev exited with ${code}:\n${seen}`)));
  });
  url = `http://127.0.0.1:${port}`;
});

after(() => {
  if (dev) dev.kill("SIGTERM");
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function signup() {
  const email = `${Math.random().toString(16).slice(2)}@example.com`;
  const answer = await fetch(`${url}/dev/signup`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email }),
  });
  assert.equal(answer.status, 201);
  return (await answer.json()).access_token;
}

// An 80x64 PNG (the API takes at least 64 pixels a side), made once with Pillow.
const PNG = Uint8Array.from(
  atob(
    "iVBORw0KGgoAAAANSUhEUgAAAFAAAABACAIAAAACpWdhAAAAWklEQVR42u3PAQEAMAgDIDXNIz6isQwyaEC/v5VkKoywsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsLCwsHCSAwisAejSQC2OAAAAAElFTkSuQmCC",
  ),
  (c) => c.charCodeAt(0),
);

test("create, wait, credits, history and pricing with a token", async () => {
  const wan = new Client({ baseUrl: url, token: await signup() });
  const accepted = await wan.textToVideo("a red fox running through fresh snow", { model: "t2v-14B", resolution: "480p" });
  assert.equal(accepted.cost, 10);
  assert.equal(accepted.credits_remaining, 90);
  const done = await wan.waitFor(accepted.generation_id, { timeout: 60 });
  assert.equal(done.status, "succeeded");
  assert.ok(done.video_url);
  assert.equal((await wan.credits()).balance, 90);
  const page = await wan.generations({ limit: 5 });
  assert.deepEqual(page.items.map((g) => g.generation_id), [accepted.generation_id]);
  assert.ok((await wan.pricing()).models.some((m) => m.model === "t2v-14B"));
});

test("an image upload", async () => {
  const wan = new Client({ baseUrl: url, token: await signup() });
  const accepted = await wan.imageToVideo(new Blob([PNG], { type: "image/png" }), "the fox turns its head", {
    model: "i2v-14B",
    resolution: "480p",
  });
  const done = await wan.waitFor(accepted.generation_id, { timeout: 60 });
  assert.equal(done.kind, "image-to-video");
  assert.equal(done.status, "succeeded");
});

test("errors are ApiError with status, code and detail (402 with required and balance)", async () => {
  const wan = new Client({ baseUrl: url, token: await signup(), maxRetries: 0 });
  await assert.rejects(wan.textToVideo("a fox", { model: "t2v-1.3B", resolution: "720p" }), (error) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.status, 422);
    assert.equal(error.code, "invalid_request");
    assert.match(error.detail, /resolution/);
    return true;
  });
  await assert.rejects(wan.status("00000000-0000-4000-8000-000000000000"), { status: 404, code: "not_found" });
  for (let i = 0; i < 5; i++) {
    const accepted = await wan.textToVideo("a fox", { model: "t2v-14B", resolution: "720p" });
    await wan.waitFor(accepted.generation_id, { timeout: 60 });
  }
  await assert.rejects(wan.textToVideo("a fox", { model: "t2v-14B", resolution: "720p" }), (error) => {
    assert.equal(error.status, 402);
    assert.equal(error.code, "insufficient_credits");
    assert.equal(error.required, 20);
    assert.equal(error.balance, 0);
    return true;
  });
  await assert.rejects(new Client({ baseUrl: url, token: "nope" }).credits(), { status: 401, code: "unauthorized" });
});

test("a create whose answer is lost is retried with the same Idempotency-Key and charged once", async () => {
  const token = await signup();
  const keys = [];
  let lost = 0;
  const losing = async (input, init) => {
    const answer = await fetch(input, init);
    if (String(input).endsWith("/text-to-video")) {
      keys.push(new Headers(init.headers).get("Idempotency-Key"));
      if (lost++ < 2) throw new TypeError("fetch failed: the answer was lost");
    }
    return answer;
  };
  const wan = new Client({ baseUrl: url, token, maxRetryWait: 0.01, fetch: losing });
  const accepted = await wan.textToVideo("a fox", { model: "t2v-14B", resolution: "480p" });
  assert.equal(keys.length, 3);
  assert.equal(new Set(keys).size, 1);
  assert.equal(accepted.credits_remaining, 90);
  const ledger = await new Client({ baseUrl: url, token }).credits();
  assert.equal(ledger.balance, 90);
  assert.equal(ledger.transactions.filter((t) => t.type === "deduction").length, 1);
});

// These two need generations held in flight at the emulator, which tests/test_sdks.py sets up
// (WAN_API_TOKEN_BUSY: a user with MAX_ACTIVE_GENERATIONS running; WAN_API_HELD: "token generation_id"
// of one running generation); a stack started here finishes every prediction on its own.
const busy = process.env.WAN_API_TOKEN_BUSY;
const held = process.env.WAN_API_HELD?.split(" ");

test("a 429 is retried after its Retry-After, then raised", { skip: !busy && "run through tests/test_sdks.py" }, async () => {
  let sent = 0;
  const counting = (input, init) => {
    if (String(input).endsWith("/text-to-video")) sent++;
    return fetch(input, init);
  };
  const wan = new Client({ baseUrl: url, token: busy, maxRetries: 2, maxRetryWait: 0.01, fetch: counting });
  await assert.rejects(wan.textToVideo("a fox", { model: "t2v-14B", resolution: "480p" }), (error) => {
    assert.equal(error.status, 429);
    assert.equal(error.code, "too_many_active_generations");
    assert.ok(error.retryAfter > 0);
    return true;
  });
  assert.equal(sent, 3); // the first try and two retries
});

test("cancel, retry and delete", { skip: !held && "run through tests/test_sdks.py" }, async () => {
  const [token, generationId] = held;
  const wan = new Client({ baseUrl: url, token });
  assert.equal((await wan.cancel(generationId)).status, "canceled");
  await assert.rejects(wan.cancel(generationId), { status: 409, code: "invalid_state" });
  const again = await wan.retry(generationId);
  assert.equal(again.retry_of, generationId);
  assert.equal((await wan.waitFor(again.generation_id, { timeout: 60 })).status, "succeeded");
  assert.equal((await wan.delete(generationId)).deleted, true);
});

test("a map of function URLs, as on Modal, reaches each function", async () => {
  const wan = new Client({
    endpoints: { account: url, text_to_video: `${url}/text-to-video`, generation_status: `${url}/status` },
    token: await signup(),
  });
  assert.equal(wan.url("/generations/abc"), `${url}/generations/abc`);
  const accepted = await wan.textToVideo("a fox", { model: "t2v-14B", resolution: "480p" });
  assert.equal((await wan.waitFor(accepted.generation_id, { timeout: 60 })).status, "succeeded");
  assert.throws(() => new Client({ endpoints: { acount: url } }), /neither a path nor a web function/);
  assert.equal(ROUTES["/credits"][0], "account");
});

test("verifyWebhook takes either secret during a rotation and refuses the rest", () => {
  const secret = () => `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64")}`;
  const [oldSecret, newSecret, stranger] = [secret(), secret(), secret()];
  const body = JSON.stringify({ type: "generation.completed", timestamp: "2026-12-02T01:00:00Z", data: { status: "succeeded" } });
  const now = new Date();
  const sign = (s, at = now) => new Webhook(s).sign("evt_1", at, body);
  const headers = (signature, at = now) => ({
    "webhook-id": "evt_1",
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": signature,
  });
  const both = headers(`${sign(newSecret)} ${sign(oldSecret)}`);
  assert.equal(verifyWebhook(body, both, oldSecret).type, "generation.completed");
  assert.equal(verifyWebhook(new TextEncoder().encode(body), new Headers(both), newSecret).data.status, "succeeded");
  const old = new Date(now.getTime() - 6 * 60 * 1000);
  for (const [b, h, s] of [
    [body, both, stranger],
    [body.replace("succeeded", "failed"), both, newSecret],
    [body, headers(sign(newSecret, old), old), newSecret],
    [body, { "webhook-id": "evt_1" }, newSecret],
  ]) {
    assert.throws(() => verifyWebhook(b, h, s), WebhookVerificationError);
  }
});
