"""Replicate's webhooks: verified before anything is read, idempotent, order-proof, refunding once,
and keeping the video. Real Postgres, the local stack over HTTP, signatures from the emulator."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from shared.db import PostgresBackend
from tests.support import assert_error, run_at_once, wait_for


def prediction(pid: str, status: str, **extra) -> dict:
    return {"id": pid, "status": status, "input": {}, "output": None, "error": None, "logs": "", **extra}


def deliver(api, gen_id, body: dict | str, *, msg_id=None, timestamp=None, headers=None):
    raw = body if isinstance(body, str) else json.dumps(body)
    headers = headers if headers is not None else api.stack.emulator.signed_headers(raw, msg_id=msg_id, timestamp=timestamp)
    return api.http.post("/webhooks/replicate", params={"generation_id": gen_id}, content=raw, headers=headers)


def snapshot(db, gen_id):
    return (db.execute("select status, progress, replicate_id, error, updated_at from public.generations "
                       "where id = %s", (gen_id,)).fetchone(),
            db.execute("select count(*) from public.credit_transactions where generation_id = %s",
                       (gen_id,)).fetchone()[0],
            db.execute("select count(*) from public.webhook_events").fetchone()[0])


# --- signatures -----------------------------------------------------------------------------------

def _forged(api, raw, kind):
    emulator = api.stack.emulator
    good = emulator.signed_headers(raw)
    now = datetime.now(timezone.utc)
    if kind == "wrong_secret":
        from wan_local.replicate_emulator import ReplicateEmulator

        return ReplicateEmulator().signed_headers(raw)
    if kind in ("missing_id", "missing_timestamp", "missing_signature"):
        name = {"missing_id": "webhook-id", "missing_timestamp": "webhook-timestamp",
                "missing_signature": "webhook-signature"}[kind]
        return {k: v for k, v in good.items() if k != name}
    if kind == "ten_minutes_old":
        return emulator.signed_headers(raw, timestamp=now - timedelta(minutes=10))
    if kind == "ten_minutes_ahead":
        return emulator.signed_headers(raw, timestamp=now + timedelta(minutes=10))
    if kind == "garbage_signature":
        return good | {"webhook-signature": "garbage"}
    if kind == "not_a_timestamp":
        return good | {"webhook-timestamp": "yesterday"}
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["wrong_secret", "missing_id", "missing_timestamp", "missing_signature",
                                  "ten_minutes_old", "ten_minutes_ahead", "garbage_signature", "not_a_timestamp"])
def test_a_forged_or_stale_delivery_is_401_and_changes_nothing(api, db, kind):
    token, gen_id, pid = api.start_generation()
    raw = json.dumps(prediction(pid, "failed", error="boom"))
    before = snapshot(db, gen_id)
    assert_error(deliver(api, gen_id, raw, headers=_forged(api, raw, kind)), 401, "invalid_signature")
    assert snapshot(db, gen_id) == before
    assert api.balance(token) == 90


def test_a_tampered_body_is_401(api, db):
    token, gen_id, pid = api.start_generation()
    signed = json.dumps(prediction(pid, "processing"))
    headers = api.stack.emulator.signed_headers(signed)
    tampered = json.dumps(prediction(pid, "failed", error="boom"))
    before = snapshot(db, gen_id)
    assert_error(deliver(api, gen_id, tampered, headers=headers), 401, "invalid_signature")
    assert snapshot(db, gen_id) == before


def test_one_bogus_and_one_good_signature_in_the_header_is_accepted(api):
    token, gen_id, pid = api.start_generation()
    raw = json.dumps(prediction(pid, "succeeded", output="http://127.0.0.1:9/x.mp4"))
    headers = api.stack.emulator.signed_headers(raw)
    headers["webhook-signature"] = "v1,Ym9ndXNzaWduYXR1cmVib2d1c3NpZ25hdHVyZWJvZ3Vzcw== " + headers["webhook-signature"]
    assert deliver(api, gen_id, raw, headers=headers).status_code == 200
    assert api.status(token, gen_id).json()["status"] == "succeeded"


@pytest.mark.parametrize("raw", ['{"hello": "world"}', "[]", "not json at all", '{"id": "p1", "status": "exploded"}'])
def test_an_authentic_body_that_is_not_a_prediction_is_400(api, db, raw):
    token, gen_id, pid = api.start_generation()
    before = snapshot(db, gen_id)
    assert_error(deliver(api, gen_id, raw), 400, "invalid_payload")
    assert snapshot(db, gen_id) == before


# --- finding the generation ---------------------------------------------------------------------

@pytest.mark.parametrize("gen_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid", ""])
def test_an_authentic_event_for_no_generation_of_ours_is_200_and_writes_nothing(api, db, gen_id):
    r = deliver(api, gen_id, prediction("someone-elses", "succeeded"))
    assert r.status_code == 200 and r.json()["outcome"] == "unknown_generation"
    assert db.execute("select count(*) from public.webhook_events").fetchone()[0] == 0


def test_an_event_for_another_job_of_the_same_generation_is_ignored(api, db):
    token, gen_id, pid = api.start_generation()
    before = snapshot(db, gen_id)
    r = deliver(api, gen_id, prediction("a-different-job", "failed"))
    assert r.status_code == 200 and r.json()["outcome"] == "job_mismatch"
    assert snapshot(db, gen_id) == before


def test_a_webhook_that_beats_the_job_id_write_still_lands(api, credits, db):
    user_id, token = api.signup()
    from shared.credits import NewGeneration

    gen = credits.create_generation(NewGeneration(user_id=user_id, kind="text-to-video", model="t2v-14B",
                                                  resolution="480p", prompt="p", cost=10, max_active=3))
    assert deliver(api, gen["generation_id"], prediction("job-1", "starting")).json()["outcome"] == "applied"
    row = db.execute("select status, replicate_id from public.generations where id = %s",
                     (gen["generation_id"],)).fetchone()
    assert row == ("processing", "job-1")
    # The create path's own write arrives late and changes nothing.
    credits.backend.call("mark_processing", p_gen_id=gen["generation_id"], p_replicate_id="job-1")
    assert deliver(api, gen["generation_id"], prediction("job-1", "failed")).json()["outcome"] == "applied"
    assert api.balance(token) == 100


# --- idempotent and order-proof ---------------------------------------------------------------------

def test_the_same_delivery_ten_times_is_one_transition_and_one_refund(api, db):
    token, gen_id, pid = api.start_generation()
    raw = json.dumps(prediction(pid, "failed", error="CUDA out of memory"))
    headers = api.stack.emulator.signed_headers(raw)
    outcomes = [deliver(api, gen_id, raw, headers=headers) for _ in range(10)]
    assert {r.status_code for r in outcomes} == {200}
    assert [r.json()["outcome"] for r in outcomes] == ["applied"] + ["duplicate"] * 9
    assert api.balance(token) == 100
    status = api.status(token, gen_id).json()
    assert (status["status"], status["refunded"], status["error"]) == ("failed", True, "CUDA out of memory")


def test_the_same_event_under_ten_webhook_ids_at_once_is_one_transition_and_one_refund(api):
    token, gen_id, pid = api.start_generation()
    raw = json.dumps(prediction(pid, "canceled"))
    outcomes = [r.json()["outcome"] for r in run_at_once(10, lambda i: deliver(api, gen_id, raw))]
    assert sorted(outcomes) == ["applied"] + ["unchanged"] * 9
    assert api.balance(token) == 100
    assert api.credits(token)["transactions"][0]["type"] == "refund"


def test_processing_after_succeeded_is_ignored(api):
    token, gen_id, pid = api.start_generation()
    deliver(api, gen_id, prediction(pid, "succeeded", output=api.stack.emulator._output_url(pid)))
    r = deliver(api, gen_id, prediction(pid, "processing", logs="10%"))
    assert r.json()["outcome"] == "unchanged"
    assert api.status(token, gen_id).json()["status"] == "succeeded"


def test_failed_after_succeeded_never_refunds(api):
    token, gen_id, pid = api.start_generation()
    deliver(api, gen_id, prediction(pid, "succeeded", output=api.stack.emulator._output_url(pid)))
    deliver(api, gen_id, prediction(pid, "failed"))
    assert api.status(token, gen_id).json()["status"] == "succeeded"
    assert api.balance(token) == 90


@pytest.mark.parametrize("status,error_code", [("failed", "provider_failed"), ("canceled", "canceled"),
                                               ("aborted", "provider_aborted")])
def test_failed_canceled_and_aborted_each_refund_once(api, db, status, error_code):
    token, gen_id, pid = api.start_generation()
    deliver(api, gen_id, prediction(pid, status, error="it broke" if status != "canceled" else None))
    deliver(api, gen_id, prediction(pid, status))
    body = api.status(token, gen_id).json()
    assert body["status"] == ("failed" if status == "aborted" else status)
    assert body["refunded"] is True and body["terminal"] is True and body["error"]
    assert db.execute("select error_code from public.generations where id = %s", (gen_id,)).fetchone()[0] == error_code
    assert api.balance(token) == 100


def test_progress_comes_from_the_models_logs_and_never_goes_back(api):
    token, gen_id, pid = api.start_generation()
    deliver(api, gen_id, prediction(pid, "processing", logs="loading weights\n"))
    assert api.status(token, gen_id).json()["progress"] == 10  # no percentage yet: from the status
    deliver(api, gen_id, prediction(pid, "processing", logs="step 1\n 37%|███ \n"))
    assert api.status(token, gen_id).json()["progress"] == 37
    deliver(api, gen_id, prediction(pid, "processing", logs="12%"))
    assert api.status(token, gen_id).json()["progress"] == 37


# --- keeping the video ------------------------------------------------------------------------------

def test_succeeded_copies_the_video_into_our_storage_and_status_serves_it(api, db):
    token, gen_id, pid = api.start_generation()
    api.stack.emulator.finish(pid, "succeeded")  # the emulator's own signed delivery, over HTTP
    assert api.stack.emulator.deliveries[-1]["status"] == 200
    path = wait_for(lambda: db.execute("select video_path from public.generations where id = %s",
                                       (gen_id,)).fetchone()[0])
    assert api.stack.services.storage.exists(path)
    url = api.status(token, gen_id).json()["video_url"]
    assert url.startswith(api.stack.url + "/files/videos/")
    assert api.http.get(url).content[4:8] == b"ftyp"


def test_a_failed_copy_keeps_replicates_url_until_a_retry_succeeds(api, db):
    from shared.video_copy import copy_video

    token, gen_id, pid = api.start_generation()
    kept = api.stack.emulator.predictions.pop(pid)  # Replicate's file is (for now) not there: the copy fails
    deliver(api, gen_id, prediction(pid, "succeeded", output=api.stack.emulator._output_url(pid)))
    wait_for(lambda: db.execute("select video_copy_attempts from public.generations where id = %s",
                                (gen_id,)).fetchone()[0] == 1)
    assert api.status(token, gen_id).json()["video_url"] == api.stack.emulator._output_url(pid)
    api.stack.emulator.predictions[pid] = kept  # the file is back
    assert copy_video(api.stack.services, gen_id) == "copied"
    assert copy_video(api.stack.services, gen_id) == "already_copied"
    assert api.status(token, gen_id).json()["video_url"].startswith(api.stack.url + "/files/videos/")


# --- the database going away -------------------------------------------------------------------------

def test_the_database_going_away_mid_request_is_5xx_and_the_retry_applies_once(api, db, db_url):
    token, gen_id, pid = api.start_generation()
    raw = json.dumps(prediction(pid, "failed", error="boom"))
    headers = api.stack.emulator.signed_headers(raw)
    before = snapshot(db, gen_id)
    with psycopg.connect(db_url) as locker:
        locker.execute("select 1 from public.generations where id = %s for update", (gen_id,))
        answer = {}
        sender = threading.Thread(target=lambda: answer.setdefault("r", deliver(api, gen_id, raw, headers=headers)))
        sender.start()
        waiting = wait_for(lambda: db.execute(
            "select pid from pg_stat_activity where wait_event_type = 'Lock' and query like '%%record_prediction%%'"
        ).fetchone())
        db.execute("select pg_terminate_backend(%s)", (waiting[0],))
        sender.join()
    assert answer["r"].status_code >= 500
    assert answer["r"].json()["detail"]
    assert snapshot(db, gen_id) == before  # nothing half-written
    retry = deliver(api, gen_id, raw, headers=headers)  # Replicate retries the same delivery
    assert retry.status_code == 200 and retry.json()["outcome"] == "applied"
    assert api.balance(token) == 100


def test_an_unreachable_database_is_503_so_replicate_retries(api, stack):
    token, gen_id, pid = api.start_generation()
    real = stack.services.backend
    stack.services.backend = PostgresBackend("postgresql://postgres@127.0.0.1:9/none", min_size=0)
    stack.services.backend.pool.timeout = 1
    try:
        r = deliver(api, gen_id, prediction(pid, "failed"))
    finally:
        stack.services.backend.close()
        stack.services.backend = real
    assert_error(r, 503, "service_unavailable")
    assert deliver(api, gen_id, prediction(pid, "failed")).json()["outcome"] == "applied"
    assert api.balance(token) == 100
