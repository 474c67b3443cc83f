"""The client libraries (issue 24): generated files current and made without warnings, the Python SDK
against a real local stack over HTTP, and the TypeScript SDK's own tests (Node's runner) against one."""

from __future__ import annotations

import asyncio
import concurrent.futures
import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from PIL import Image
from standardwebhooks import Webhook

import wan_video
from tests.support import wait_for
from wan_local import sdk_codegen

ROOT = Path(__file__).resolve().parent.parent
TS = ROOT / "clients" / "typescript"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(
    not os.environ.get("CI") and (NODE is None or not (TS / "node_modules").is_dir()),
    reason="the TypeScript SDK needs node and `npm ci --prefix clients/typescript` (.ci/run does both)")


def png(width: int = 320, height: int = 240) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (40, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


# --- generated files --------------------------------------------------------------------------------------

@needs_node
def test_the_generated_files_are_current_and_the_generators_print_no_warning(tmp_path):
    noise = sdk_codegen.generate(tmp_path)
    assert noise == [], noise  # datamodel-code-generator and openapi-typescript ran clean
    stale = [rel for rel in sdk_codegen.GENERATED if (tmp_path / rel).read_text() != (ROOT / rel).read_text()]
    assert not stale, f"{', '.join(stale)} stale: run `{sdk_codegen.COMMAND}` and commit the result"


def test_the_sdk_versions_follow_the_apis():
    doc = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert wan_video.API_VERSION == doc["info"]["version"]
    python_version = next(line.split('"')[1] for line in (ROOT / "clients/python/pyproject.toml").read_text()
                          .splitlines() if line.startswith("version ="))
    ts_version = json.loads((TS / "package.json").read_text())["version"]
    assert python_version.split(".")[0] == ts_version.split(".")[0] == doc["info"]["version"]


def test_the_python_sdk_installs_as_a_package_with_its_types(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(tmp_path / "site"), str(ROOT / "clients" / "python")], check=True)
    installed = tmp_path / "site" / "wan_video"
    assert {"py.typed", "models.py", "_routes.py", "__init__.py"} <= {p.name for p in installed.iterdir()}


# --- mapping a path to a Modal function URL ------------------------------------------------------------

def test_a_path_maps_to_its_modal_function_url():
    wan = wan_video.Client(endpoints={"account": "https://ws--wan-video-api-account.modal.run",
                                      "text_to_video": "https://ws--wan-video-api-text-to-video.modal.run/",
                                      "/status": "https://ws--wan-video-api-generation-status.modal.run"})
    assert wan.url("/credits") == "https://ws--wan-video-api-account.modal.run/credits"
    assert wan.url("/text-to-video") == "https://ws--wan-video-api-text-to-video.modal.run"
    assert wan.url("/status") == "https://ws--wan-video-api-generation-status.modal.run"
    assert wan.url("/generations/{generation_id}", generation_id="g1") == \
        "https://ws--wan-video-api-account.modal.run/generations/g1"
    with pytest.raises(ValueError, match="image_to_video"):
        wan.url("/image-to-video")  # not given, and no base_url to fall back on
    with pytest.raises(ValueError, match="neither a path nor a web function"):
        wan_video.Client(endpoints={"acount": "https://x.modal.run"})


# --- the Python SDK against the local stack -----------------------------------------------------------

@pytest.fixture
def running(stack):
    """The stack with predictions that run by themselves, quickly."""
    stack.emulator.behaviour.auto_run, stack.emulator.behaviour.run_seconds = True, 0.3
    return stack


def test_create_wait_credits_and_history_with_a_token(running, api):
    with wan_video.Client(running.url, token=api.token()) as wan:
        accepted = wan.text_to_video("a red fox running through fresh snow", model="t2v-14B", resolution="480p")
        assert isinstance(accepted, wan_video.models.Accepted)
        assert accepted.cost == 10 and accepted.credits_remaining == 90
        done = wan.wait(accepted.generation_id, timeout=60)
        assert done.status == "succeeded" and done.terminal and done.video_url
        assert httpx.get(done.video_url).content[4:8] == b"ftyp"
        assert wan.credits().balance == 90
        page = wan.generations(limit=5)
        assert [g.generation_id for g in page.items] == [accepted.generation_id]
        assert "t2v-14B" in {m.model for m in wan.pricing().models}


def test_an_image_upload_and_an_api_key(running, api):
    token = api.token()
    key = api.http.post("/api-keys", json={"name": "sdk"}, headers=api.auth(token)).json()["key"]
    with wan_video.Client(running.url, api_key=key) as wan:
        accepted = wan.image_to_video(png(240, 320), "the fox turns its head", model="i2v-14B", resolution="480p")
        done = wan.wait(accepted.generation_id, timeout=60)
        assert done.kind == "image-to-video" and done.status == "succeeded"


def test_errors_carry_status_code_and_detail(stack, api):
    with wan_video.Client(stack.url, token=api.token(), max_retries=0) as wan:
        with pytest.raises(wan_video.ApiError) as invalid:
            wan.text_to_video("a fox", model="t2v-1.3B", resolution="720p")
        assert (invalid.value.status, invalid.value.code) == (422, "invalid_request")
        assert invalid.value.errors[0]["field"] == "resolution" and "resolution" in invalid.value.detail
        with pytest.raises(wan_video.ApiError) as missing:
            wan.status("00000000-0000-4000-8000-000000000000")
        assert (missing.value.status, missing.value.code) == (404, "not_found")
        for _ in range(5):  # 100 credits: five 720p videos (they finish one by one: no 429)
            accepted = wan.text_to_video("a fox", model="t2v-14B", resolution="720p")
            stack.emulator.finish(api.prediction_of(str(accepted.generation_id)))
            wait_for(lambda: wan.status(accepted.generation_id).terminal)
        with pytest.raises(wan_video.ApiError) as broke:
            wan.text_to_video("a fox", model="t2v-14B", resolution="720p")
        assert (broke.value.status, broke.value.code) == (402, "insufficient_credits")
        assert (broke.value.required, broke.value.balance) == (20, 0)
    with wan_video.Client(stack.url, token="not-a-token") as wan, pytest.raises(wan_video.ApiError) as anonymous:
        wan.credits()
    assert (anonymous.value.status, anonymous.value.code) == (401, "unauthorized")


class _LoseFirstAnswers(httpx.HTTPTransport):
    """Real HTTP, but the first `n` answers to creates are lost on the way back (the server did the work)."""

    def __init__(self, n: int):
        super().__init__()
        self.lost, self.n, self.keys = 0, n, []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method == "POST" and request.url.path == "/text-to-video":
            self.keys.append(request.headers["Idempotency-Key"])
            if self.lost < self.n:
                response.read()
                self.lost += 1
                raise httpx.ReadError("the answer was lost", request=request)
        return response


def test_a_create_whose_answer_is_lost_is_retried_with_its_key_and_charged_once(stack, api):
    token = api.token()
    transport = _LoseFirstAnswers(2)
    with wan_video.Client(stack.url, token=token, max_retry_wait=0.01,
                          http_client=httpx.Client(transport=transport)) as wan:
        accepted = wan.text_to_video("a fox", model="t2v-14B", resolution="480p")
    assert transport.lost == 2 and len(set(transport.keys)) == 1 and len(transport.keys) == 3
    assert accepted.credits_remaining == 90
    assert api.balance(token) == 90  # three sends, one charge
    charges = [t for t in api.credits(token)["transactions"] if t["type"] == "deduction"]
    assert len(charges) == 1


def test_429_is_retried_after_its_retry_after_then_raised(stack, api):
    token = api.token()
    for _ in range(3):  # MAX_ACTIVE_GENERATIONS in flight: the next create is a 429 with Retry-After
        assert api.text_to_video(token).status_code == 202
    sent = []
    client = httpx.Client(event_hooks={"request": [lambda r: sent.append(r.headers.get("Idempotency-Key"))]})
    with wan_video.Client(stack.url, token=token, max_retries=2, max_retry_wait=0.01, http_client=client) as wan:
        with pytest.raises(wan_video.ApiError) as refused:
            wan.text_to_video("a fox", model="t2v-14B", resolution="480p")
    assert (refused.value.status, refused.value.code) == (429, "too_many_active_generations")
    assert refused.value.retry_after is not None and refused.value.retry_after > 0
    assert len(sent) == 3 and len(set(sent)) == 1  # the first try and two retries, one key
    assert api.balance(token) == 70


def test_a_provider_refusal_is_retried_with_a_fresh_key_and_one_charge_stands(stack, api):
    token = api.token()
    behaviour = stack.emulator.behaviour
    behaviour.create_status = 503
    sent = []

    def refuse_once(request: httpx.Request) -> None:
        sent.append(request.headers.get("Idempotency-Key"))
        if len(sent) == 2:
            behaviour.create_status = None  # Replicate is back for the second try

    client = httpx.Client(event_hooks={"request": [refuse_once]})
    with wan_video.Client(stack.url, token=token, max_retry_wait=0.01, http_client=client) as wan:
        accepted = wan.text_to_video("a fox", model="t2v-14B", resolution="480p")
    assert len(sent) == 2 and sent[0] != sent[1]  # the refunded attempt's key would only answer 503 again
    assert accepted.credits_remaining == 90 and api.balance(token) == 90
    types = [t["type"] for t in api.credits(token)["transactions"]]
    assert types.count("deduction") == 2 and types.count("refund") == 1


def test_retry_and_cancel(running, api):
    with wan_video.Client(running.url, token=api.token()) as wan:
        running.emulator.behaviour.auto_run = False
        accepted = wan.text_to_video("a fox", model="t2v-14B", resolution="480p")
        assert wan.cancel(accepted.generation_id).status == "canceled"
        running.emulator.behaviour.auto_run = True
        again = wan.retry(accepted.generation_id)
        assert again.retry_of == accepted.generation_id
        assert wan.wait(again.generation_id, timeout=60).status == "succeeded"
        assert wan.delete(accepted.generation_id).deleted is True


def test_the_async_client_does_the_same(running, api):
    token = api.token()

    async def scenario():
        async with wan_video.AsyncClient(running.url, token=token) as wan:
            accepted = await wan.text_to_video("a fox", model="t2v-14B", resolution="480p")
            done = await wan.wait(accepted.generation_id, timeout=60)
            with pytest.raises(wan_video.ApiError) as missing:
                await wan.status("00000000-0000-4000-8000-000000000000")
            return done, missing.value.code, (await wan.credits()).balance

    # In a thread of its own: the browser tests' Playwright keeps an event loop on this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        done, code, balance = pool.submit(asyncio.run, scenario()).result()
    assert done.status == "succeeded" and code == "not_found" and balance == 90


def test_the_endpoints_map_reaches_each_function(running, api):
    """The local stack serves each card function at its path: a map of function URLs as on Modal."""
    url = running.url
    endpoints = {"account": url, "text_to_video": f"{url}/text-to-video", "generation_status": f"{url}/status"}
    with wan_video.Client(endpoints=endpoints, token=api.token()) as wan:
        accepted = wan.text_to_video("a fox", model="t2v-14B", resolution="480p")
        assert wan.wait(accepted.generation_id, timeout=60).status == "succeeded"
        assert wan.credits().balance == 90


# --- webhook verification ---------------------------------------------------------------------------------

def _signed(body: bytes, *secrets: str, msg_id: str = "evt_1", at: datetime | None = None) -> dict:
    at = at or datetime.now(timezone.utc)
    signatures = " ".join(Webhook(s).sign(msg_id, at, body.decode()) for s in secrets)
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signatures}


def test_verify_webhook_accepts_either_secret_during_a_rotation_and_refuses_the_rest():
    old, new = ("whsec_" + base64.b64encode(os.urandom(24)).decode() for _ in range(2))
    body = json.dumps({"type": "generation.completed", "timestamp": "2026-12-02T01:00:00Z",
                       "data": {"generation_id": "g1", "status": "succeeded"}}).encode()
    headers = _signed(body, new, old)
    assert wan_video.verify_webhook(body, headers, old)["type"] == "generation.completed"
    assert wan_video.verify_webhook(body, {k.title(): v for k, v in headers.items()}, new)["data"]["status"] == "succeeded"
    stranger = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    for bad_body, bad_headers, secret in [
        (body, headers, stranger),                                                    # another secret
        (body.replace(b"succeeded", b"failed"), headers, new),                        # tampered
        (body, _signed(body, new, at=datetime.now(timezone.utc) - timedelta(minutes=6)), new),  # too old
        (body, {**headers, "webhook-signature": "garbage"}, new),                      # malformed header
        (body, {"webhook-id": "evt_1"}, new),                                          # headers missing
        (b"[1, 2]", _signed(b"[1, 2]", new), new),                                     # not an event
    ]:
        with pytest.raises(wan_video.WebhookVerificationError):
            wan_video.verify_webhook(bad_body, bad_headers, secret)


# --- the TypeScript SDK ------------------------------------------------------------------------------------

@needs_node
def test_the_typescript_sdk_passes_its_own_tests_against_the_local_stack(stack, api):
    emulator = stack.emulator  # auto_run off: nothing runs until finished below
    busy, held = api.token(), api.token()
    for _ in range(3):  # MAX_ACTIVE_GENERATIONS in flight for `busy`
        assert api.text_to_video(busy).status_code == 202
    held_id = api.text_to_video(held).json()["generation_id"]
    kept = set(emulator.predictions)  # these stay running; every prediction the SDK's tests make finishes
    stop = threading.Event()

    def finish_the_rest():
        while not stop.wait(0.05):
            for pid, pred in list(emulator.predictions.items()):
                if pid not in kept and pred.data["status"] in ("starting", "processing"):
                    emulator.finish(pid)

    finisher = threading.Thread(target=finish_the_rest, daemon=True)
    finisher.start()
    env = {**os.environ, "WAN_API_URL": stack.url, "WAN_API_TOKEN_BUSY": busy, "WAN_API_HELD": f"{held} {held_id}"}
    try:
        done = subprocess.run(["npm", "test"], cwd=TS, env=env, capture_output=True, text=True, timeout=600)
    finally:
        stop.set()
        finisher.join()
    assert done.returncode == 0, f"npm test failed:\n{done.stdout}\n{done.stderr}"
    assert re.search(r"^# pass 8$", done.stdout, re.M) and re.search(r"^# fail 0$", done.stdout, re.M), done.stdout


def test_the_sdks_verify_a_real_delivery_of_ours(running, api):
    """A create with webhook_url through the SDK; the delivery our outbox sends to a receiver on
    loopback verifies with verify_webhook and the secret GET /webhooks/secret shows its owner."""
    from tests.test_push_webhooks import Receiver

    receiver = Receiver()
    try:
        token = api.token()
        secret = api.http.get("/webhooks/secret", headers=api.auth(token)).json()["secret"]
        with wan_video.Client(running.url, token=token) as wan:
            accepted = wan.text_to_video("a fox", model="t2v-14B", resolution="480p", webhook_url=receiver.url)
            assert wan.wait(accepted.generation_id, timeout=60).status == "succeeded"
        delivery = wait_for(lambda: next((r for r in receiver.received if r["answered"] == 200), None), timeout=60)
        event = wan_video.verify_webhook(delivery["body"], delivery["headers"], secret)
        assert event["type"] == "generation.completed"
        assert event["data"]["generation_id"] == str(accepted.generation_id) and event["data"]["terminal"]
        with pytest.raises(wan_video.WebhookVerificationError):  # another user's secret does not verify it
            other = api.http.get("/webhooks/secret", headers=api.auth(api.token())).json()["secret"]
            wan_video.verify_webhook(delivery["body"], delivery["headers"], other)
    finally:
        receiver.close()
