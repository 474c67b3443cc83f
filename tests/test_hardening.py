"""Issue 11, the attack run's findings: bodies bounded before they are read, nothing stored before the
charge, odd characters and shapes answered in the contract's shape, every response logged. Through
HTTP on the local stack (real Postgres, the real `replicate` client, the emulator)."""

from __future__ import annotations

import base64
import io
import json
import logging
import socket
import uuid
from urllib.parse import urlsplit

import pytest
from PIL import Image

from tests.support import assert_error, balance


def png(width: int = 320, height: int = 240) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def raw_request(api, head: str, body_parts: list[bytes] = ()) -> tuple[int, dict]:
    """Send a request head (and some body bytes) over a socket and read the answer, without ever
    sending the rest of what the head promised: only a server that refuses early can answer."""
    host = urlsplit(api.stack.url)
    with socket.create_connection((host.hostname, host.port), timeout=20) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        for part in body_parts:
            sock.sendall(part)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, json.loads(data.split(b"\r\n\r\n", 1)[1])


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 1 << 30


def stored_files(api) -> list[str]:
    root = api.stack.data_dir / "storage"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --- item 2: bodies are refused before they are read ---------------------------------------------

@pytest.mark.parametrize("method,path,declared,code", [
    pytest.param("POST", "/text-to-video", 300_000_000, "payload_too_large", id="json_300MB"),
    pytest.param("POST", "/text-to-video", 65 * 1024, "payload_too_large", id="json_just_over_64KB"),
    pytest.param("POST", "/cancel", 300_000_000, "payload_too_large", id="cancel_300MB"),
    pytest.param("POST", "/webhooks/replicate?generation_id=x", 400_000_000, "payload_too_large", id="webhook_400MB"),
    pytest.param("POST", "/webhooks/replicate?generation_id=x", 1024 * 1024 + 1, "payload_too_large",
                 id="webhook_just_over_1MB"),
    pytest.param("POST", "/image-to-video", 300_000_000, "image_too_large", id="upload_300MB"),
])
def test_a_declared_length_over_the_route_limit_is_413_before_the_body_is_read(api, method, path, declared, code):
    token = api.token()
    status, body = raw_request(api, f"{method} {path} HTTP/1.1\nHost: x\nAuthorization: Bearer {token}\n"
                                    f"Content-Type: application/json\nContent-Length: {declared}\n")
    assert status == 413 and body["code"] == code, body
    assert api.stack.emulator.creates == []


def test_a_streamed_body_without_length_is_cut_off_at_the_limit(api):
    token = api.token()
    chunk = b"x" * 16384
    parts = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 5  # 80 KB sent of a "JSON" body with no end
    status, body = raw_request(api, f"POST /text-to-video HTTP/1.1\nHost: x\nAuthorization: Bearer {token}\n"
                                    "Content-Type: application/json\nTransfer-Encoding: chunked\n", parts)
    assert status == 413 and body["code"] == "payload_too_large", body
    chunk = b"x" * 65536
    parts = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 17  # 1.06 MB of a webhook body
    status, body = raw_request(api, "POST /webhooks/replicate HTTP/1.1\nHost: x\n"
                                    "Content-Type: application/json\nTransfer-Encoding: chunked\n", parts)
    assert status == 413 and body["code"] == "payload_too_large", body


def test_the_token_is_checked_before_an_upload_is_read(api):
    """A 9 MB upload that promises its bytes but never sends them: only a server that answers before
    reading can say 401 (the old one waited for the body, then spooled it to disk, then said 401)."""
    status, body = raw_request(api, "POST /image-to-video HTTP/1.1\nHost: x\nAuthorization: Bearer nope\n"
                                    "Content-Type: multipart/form-data; boundary=b\nContent-Length: 9000000\n")
    assert status == 401 and body["code"] == "unauthorized", body


def test_bodies_within_the_limits_still_work(api):
    token = api.token()
    assert api.text_to_video(token, prompt="p" * 2000, negative_prompt="n" * 2000).status_code == 202
    big = png(2048, 2048)
    r = api.image_to_video(token, big)
    assert r.status_code == 202, r.text


# --- item 5: odd shapes -----------------------------------------------------------------------------

def _cursor(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize("before", [
    pytest.param(_cursor(12), id="number"),
    pytest.param(_cursor([1, str(uuid.uuid4())]), id="number_in_list"),
    pytest.param(_cursor(["2026-01-01T00:00:00Z", 5]), id="id_a_number"),
    pytest.param(_cursor({"a": 1}), id="object"),
    pytest.param(_cursor({"2026-01-01T00:00:00+00:00": 1, str(uuid.uuid4()): 2}), id="object_of_two_keys"),
    pytest.param(_cursor([[["x"]]]), id="nested_list"),
    pytest.param(_cursor(["2026-01-01T00:00:00+00:00", str(uuid.uuid4()), 3]), id="three_items"),
    pytest.param(_cursor(["2026-01-01T00:00:00", str(uuid.uuid4())]), id="time_without_zone"),
    pytest.param(_cursor(["2026-01-01T00:00:00\u0000", str(uuid.uuid4())]), id="nul_in_time"),
    pytest.param("\u0000", id="nul"),
    pytest.param(_cursor(["2026-01-01T00:00:00+00:00", str(uuid.uuid4())]) + "\u0000", id="nul_after_cursor"),
])
def test_a_cursor_that_the_api_did_not_return_is_422(api, before):
    token = api.token()
    r = api.http.get("/generations", params={"before": before}, headers=api.auth(token))
    body = assert_error(r, 422, "invalid_request")
    assert body["errors"][0]["field"] == "before"


def test_a_signed_webhook_of_deeply_nested_json_is_400_not_500(api):
    token, gen_id, pid = api.start_generation()
    raw = "[" * 100_000 + "]" * 100_000
    r = api.http.post("/webhooks/replicate", params={"generation_id": gen_id}, content=raw,
                      headers=api.stack.emulator.signed_headers(raw))
    assert_error(r, 400, "invalid_payload")
    raw = json.dumps({"id": pid, "status": "processing", "logs": "5%", "input": json.loads("[" * 900 + "]" * 900)})
    r = api.http.post("/webhooks/replicate", params={"generation_id": gen_id}, content=raw,
                      headers=api.stack.emulator.signed_headers(raw))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("content_type,body", [
    pytest.param("multipart/form-data; boundary=zz", b"--zz\r\nContent-Disposition: form-data\r\n\r\nx\r\n--zz--\r\n",
                 id="part_without_name"),
    pytest.param("multipart/form-data", b"no boundary at all", id="no_boundary"),
    pytest.param("multipart/form-data; boundary=zz", b"--zz\r\nnot a header line\r\n\r\n", id="bad_part_header"),
])
def test_a_malformed_upload_is_422_in_the_contract_shape(api, content_type, body):
    token = api.token()
    r = api.http.post("/image-to-video", content=body, headers=api.auth(token, **{"Content-Type": content_type}))
    assert_error(r, 422, "invalid_request")


def test_every_response_leaves_one_request_log_line_500s_included(api, caplog, monkeypatch):
    token = api.token()

    def broken(svc, user_id):
        raise RuntimeError("a bug below the handler")

    # The handler's own work fails with nothing mapping it to an ApiError (the database stays real,
    # and the request guard's rate count before it still works).
    monkeypatch.setattr("shared.generations.credits", broken)
    with caplog.at_level(logging.INFO, logger="wan.request"):
        r = api.http.get("/credits", headers=api.auth(token))
    assert_error(r, 500, "internal_error")
    lines = [json.loads(rec.getMessage()) for rec in caplog.records
             if rec.name == "wan.request" and rec.getMessage().startswith("{")]
    assert [line["status"] for line in lines if line["path"] == "/credits"] == [500], lines


# --- item 4: NUL in our inputs ----------------------------------------------------------------------

@pytest.mark.parametrize("field", ["prompt", "negative_prompt"])
def test_a_nul_in_a_text_request_is_422_and_charges_nothing(api, db, field):
    user_id, token = api.signup()
    r = api.text_to_video(token, **{field: "a fox\u0000 in snow"})
    body = assert_error(r, 422, "invalid_request")
    assert body["errors"][0]["field"] == field
    assert balance(db, user_id) == 100 and api.stack.emulator.creates == []


@pytest.mark.parametrize("field", ["prompt", "negative_prompt", "model", "resolution", "aspect_ratio"])
def test_a_nul_in_an_upload_field_is_422_and_stores_nothing(api, db, field):
    user_id, token = api.signup()
    fields = {"prompt": "the fox", "model": "i2v-14B", "resolution": "480p", "negative_prompt": "blur",
              "aspect_ratio": "16:9"}
    fields[field] += "\u0000"
    r = api.image_to_video(token, png(), **fields)
    assert_error(r, 422, "invalid_request")
    assert balance(db, user_id) == 100 and stored_files(api) == []


# --- item 4: NUL and sheer size in what Replicate sends ----------------------------------------------

@pytest.mark.parametrize("changes,stored_error", [
    pytest.param({"status": "failed", "error": "CUDA\u0000 out of memory"}, "CUDA out of memory", id="nul_in_error"),
    pytest.param({"status": "failed", "error": "e" * 900_000}, "e" * 2000, id="900KB_error"),
    pytest.param({"status": "succeeded", "output": "https://replicate.delivery/x\u0000/out.mp4"}, None,
                 id="nul_in_output"),
])
def test_nul_or_size_in_a_webhook_is_cleaned_and_the_generation_settles(api, db, changes, stored_error):
    """Each of these made every delivery fail with a 5xx, so the generation stayed charged and
    processing until the deadline; now it settles on the first delivery (and a failure is refunded)."""
    token, gen_id, pid = api.start_generation()
    raw = json.dumps({"id": pid, "status": "processing", **changes})
    r = api.http.post("/webhooks/replicate", params={"generation_id": gen_id}, content=raw,
                      headers=api.stack.emulator.signed_headers(raw))
    assert r.status_code == 200, r.text
    status, error = db.execute("select status, error from public.generations where id = %s", (gen_id,)).fetchone()
    assert status == changes["status"] and error == stored_error
    assert api.status(token, gen_id).json()["terminal"] is True


def test_a_nul_in_the_prediction_id_is_stripped(api, db):
    token, gen_id, pid = api.start_generation()
    raw = json.dumps({"id": pid[:3] + "\u0000" + pid[3:], "status": "failed", "error": "boom"})
    r = api.http.post("/webhooks/replicate", params={"generation_id": gen_id}, content=raw,
                      headers=api.stack.emulator.signed_headers(raw))
    assert r.status_code == 200 and r.json()["outcome"] == "applied", r.text
    assert api.status(token, gen_id).json()["refunded"] is True


# --- item 1: nothing is stored before the charge --------------------------------------------------------

def test_an_upload_that_cannot_be_charged_stores_nothing(api, db):
    user_id, token = api.signup()
    db.execute("select public.add_credits(%s, -100, 'adjustment', 'spent')", (user_id,))
    for n in range(5):
        assert_error(api.image_to_video(token, png(320 + n, 240)), 402, "insufficient_credits")
    assert stored_files(api) == [] and api.stack.emulator.creates == []


def test_an_upload_from_a_user_without_a_profile_stores_nothing(api):
    from wan_local.dev_routes import access_token

    token = access_token(str(uuid.uuid4()), "ghost@example.com", api.stack.settings.supabase_jwt_secret)
    r = api.image_to_video(token, png())
    assert r.status_code == 404, r.text
    assert stored_files(api) == [] and api.stack.emulator.creates == []


def test_a_storage_failure_after_the_charge_fails_and_refunds_like_a_replicate_failure(api, db):
    user_id, token = api.signup()

    def broken_put(path, data, content_type):
        raise OSError("the bucket is unreachable")

    api.stack.services.storage.put = broken_put
    r = api.image_to_video(token, png(), key="k1")
    assert_error(r, 503, "service_unavailable")
    assert balance(db, user_id) == 100 and api.stack.emulator.creates == []
    (status, refunded, settled_by) = db.execute(
        "select status, exists (select from public.credit_transactions t where t.generation_id = g.id and "
        "t.type = 'refund'), settled_by from public.generations g where user_id = %s", (user_id,)).fetchone()
    assert (status, refunded, settled_by) == ("failed", True, "create")  # a create failure, in the metrics too
    assert_error(api.image_to_video(token, png(), key="k1"), 503, "service_unavailable")  # replayed, not charged
    assert balance(db, user_id) == 100


def test_a_charged_upload_is_stored_before_replicate_is_asked(api):
    token = api.token()
    r = api.image_to_video(token, png())
    assert r.status_code == 202, r.text
    (stored,) = stored_files(api)
    assert stored.startswith("uploads/") and stored.endswith(".png")
    assert api.stack.emulator.creates[-1]["input"]["image"].startswith(api.stack.url)


@pytest.mark.parametrize("head", [
    pytest.param("GET /pricing HTTP/1.1\nHost: x\nthis is not a header\n", id="bad_header_line"),
    pytest.param("GET /pricing HTTP/1.1\nHost: x\nContent-Length: nope\n", id="bad_content_length"),
    pytest.param("GET /pri cing HTTP/1.1\nHost: x\n", id="space_in_target"),
])
def test_a_request_that_is_not_valid_http_is_answered_as_json(api, head):
    status, body = raw_request(api, head)  # the old server answered "Invalid HTTP request received." as text
    assert status == 400 and body["code"] == "malformed_request" and isinstance(body["detail"], str), body
