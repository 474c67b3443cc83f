"""`Prefer: wait`, the status stream and GET /status's ETag (contract section 3), over real HTTP."""

from __future__ import annotations

import json
import threading

import pytest

from shared.api_models import Generation, GenerationAnswered
from tests.support import assert_error, wait_for

TERMINAL = {"succeeded", "failed", "canceled"}


def test_prefer_wait_answers_200_when_the_generation_ends_in_time(api):
    token = api.token()
    emulator = api.stack.emulator
    # Finish the prediction as soon as it exists, while the create is waiting.
    def finish_when_created():
        pid = wait_for(lambda: next(iter(emulator.predictions), None), timeout=20)
        emulator.finish(pid)

    threading.Thread(target=finish_when_created, daemon=True).start()
    answer = api.http.post("/text-to-video", json={"prompt": "a fox", "model": "t2v-14B", "resolution": "480p"},
                           headers=api.auth(token, Prefer="wait=30"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    GenerationAnswered.model_validate(body)  # the create's keys and every key of the generation
    assert body["status"] == "succeeded" and body["terminal"] and body["credits_remaining"] == 90
    assert answer.headers["preference-applied"] == "wait=30"


def test_prefer_wait_answers_202_after_the_wait_when_it_has_not_ended(api):
    token = api.token()
    answer = api.http.post("/text-to-video", json={"prompt": "a fox", "model": "t2v-14B", "resolution": "480p"},
                           headers=api.auth(token, Prefer="wait=1"))
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["status"] == "processing" and body["terminal"] is False and body["cost"] == 10
    assert set(Generation.model_fields) <= set(body)


@pytest.mark.parametrize("prefer", ["wait=0", "wait=61", "wait=abc", "respond-async, wait=-1"])
def test_a_wait_out_of_range_is_refused_before_any_charge(api, prefer):
    token = api.token()
    answer = api.http.post("/text-to-video", json={"prompt": "a fox", "model": "t2v-14B", "resolution": "480p"},
                           headers=api.auth(token, Prefer=prefer))
    body = assert_error(answer, 422, "invalid_request")
    assert body["errors"][0]["field"] == "Prefer"
    assert api.balance(token) == 100


def read_events(response):
    """The stream's events as {"id", "event", "data"} (and {"retry"}), as they come, until it ends."""
    current = {}
    for line in response.iter_lines():
        if not line:
            if current:
                yield current
            current = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(": ")
            current[field] = json.loads(value) if field == "data" else value
    if current:
        yield current


def test_the_stream_sends_each_change_and_ends_at_the_terminal_event(api):
    token, gen_id, pid = api.start_generation()
    emulator = api.stack.emulator
    got: list[dict] = []

    def watch():
        with api.http.stream("GET", "/status/stream", params={"generation_id": gen_id},
                             headers=api.auth(token), timeout=60) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            for event in read_events(response):
                got.append(event)

    thread = threading.Thread(target=watch)
    thread.start()
    wait_for(lambda: got)  # the generation at once
    # Progress, recorded as a webhook would record it.
    api.stack.services.backend.call("record_prediction", p_gen_id=gen_id, p_replicate_id=pid,
                                    p_status="processing", p_progress=40)
    wait_for(lambda: any(e["data"]["progress"] == 40 for e in got))
    emulator.finish(pid)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert got[0]["event"] == "generation" and got[0]["data"]["generation_id"] == gen_id
    assert got[-1]["data"]["status"] == "succeeded"
    assert all(e["data"]["status"] not in TERMINAL for e in got[:-1])
    assert len({e["id"] for e in got}) == len(got)  # each change its own id
    # Resuming after the terminal event: 204, nothing more will come.
    again = api.http.get("/status/stream", params={"generation_id": gen_id},
                         headers=api.auth(token, **{"Last-Event-ID": got[-1]["id"]}))
    assert again.status_code == 204


def test_the_stream_is_the_owners_only(api):
    token, gen_id, _ = api.start_generation()
    answer = api.http.get("/status/stream", params={"generation_id": gen_id}, headers=api.auth(api.token()))
    assert_error(answer, 404, "not_found")


def test_status_answers_an_etag_and_304_while_nothing_changed(api):
    token, gen_id, pid = api.start_generation()
    first = api.status(token, gen_id)
    tag = first.headers["etag"]
    assert first.headers["cache-control"] == "private, no-cache"
    same = api.http.get("/status", params={"generation_id": gen_id}, headers=api.auth(token, **{"If-None-Match": tag}))
    assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == tag
    api.stack.emulator.finish(pid, "failed", error="boom")
    wait_for(lambda: api.status(token, gen_id).json()["terminal"])
    changed = api.http.get("/status", params={"generation_id": gen_id},
                           headers=api.auth(token, **{"If-None-Match": tag}))
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    assert changed.json()["status"] == "failed"
    max_age = int(changed.headers["cache-control"].removeprefix("private, max-age="))
    assert 0 < max_age <= 1800  # at most half the signed URL's hour


def test_a_copied_videos_etag_changes_before_its_signed_url_could_expire():
    from shared import caching

    gen = {"generation_id": "g", "kind": "text-to-video", "model": "t2v-14B", "resolution": "480p",
           "prompt": "p", "status": "succeeded", "progress": 100, "error": None, "cost": 10, "refunded": False,
           "created_at": "2026-01-01T00:00:00+00:00", "updated_at": "2026-01-01T00:00:00+00:00",
           "completed_at": "2026-01-01T00:00:00+00:00", "video_path": "videos/u/g.mp4"}
    start = 1_800_000_000 - 1_800_000_000 % 1800
    assert caching.etag(gen, 3600, start) == caching.etag(gen, 3600, start + 1799)
    assert caching.etag(gen, 3600, start) != caching.etag(gen, 3600, start + 1800)
    assert caching.cache_control(gen, 3600, start + 1000) == "private, max-age=800"
    assert caching.matches(f'"x", {caching.etag(gen, 3600, start)}', caching.etag(gen, 3600, start + 5))
