"""`wan-api dev`'s POST /dev/emulator/next: a newcomer makes the emulator fail the next prediction,
refuse or hang a create, or lose a webhook, and sees what the API does about it (issue 21 item 4),
over real HTTP as the README's walkthrough does."""

from __future__ import annotations

import pytest

from shared.replicate_provider import ReplicateProvider
from tests.support import assert_error, wait_for


@pytest.fixture
def running(stack):
    stack.emulator.behaviour.auto_run, stack.emulator.behaviour.run_seconds = True, 0.5
    return stack


def arm(api, **fault) -> dict:
    r = api.http.post("/dev/emulator/next", json=fault)
    assert r.status_code == 200, r.text
    return r.json()


def settled(api, token, gen_id) -> dict:
    return wait_for(lambda: (s := api.status(token, gen_id).json())["terminal"] and s)


def test_fail_the_next_one_see_the_refund_and_retry_it(api, running):
    """The README walkthrough: fail one, see the refund, retry it."""
    token = api.token()
    assert arm(api, fault="fail") == {"armed": [{"fault": "fail"}]}
    failed = api.text_to_video(token).json()
    assert (failed["status"], failed["credits_remaining"]) == ("processing", 90)
    ended = settled(api, token, failed["generation_id"])
    assert (ended["status"], ended["refunded"]) == ("failed", True) and ended["error"]
    assert api.balance(token) == 100
    assert api.http.get("/dev/emulator/next").json() == {"armed": []}  # used once
    retried = api.http.post("/retry", json={"generation_id": failed["generation_id"]}, headers=api.auth(token))
    assert retried.status_code == 202 and retried.json()["retry_of"] == failed["generation_id"]
    assert settled(api, token, retried.json()["generation_id"])["status"] == "succeeded"
    assert api.balance(token) == 90


@pytest.mark.parametrize("status", [500, 429, 422])
def test_a_refused_create_is_refunded_at_once(api, running, status):
    token = api.token()
    arm(api, fault="refuse", status=status)
    assert "refunded" in assert_error(api.text_to_video(token), 503, "provider_unavailable")["detail"]
    assert api.balance(token) == 100
    assert api.text_to_video(token).status_code == 202  # only the next create was refused


def test_a_hanging_create_gives_up_after_the_timeout_and_refunds(api, running):
    s = running.services.settings
    running.services.provider = ReplicateProvider(s.replicate_api_token, s.replicate_base_url, timeout_seconds=0.5)
    running.settings = running.settings.model_copy(update={"replicate_timeout_seconds": 0.5})
    token = api.token()
    assert arm(api, fault="hang") == {"armed": [{"fault": "hang", "seconds": 2.5}]}  # past the timeout
    assert_error(api.text_to_video(token), 503, "provider_unavailable")
    assert api.balance(token) == 100


def test_dropped_webhooks_are_caught_up_by_asking_replicate(api, running, db):
    token = api.token()
    arm(api, fault="drop_webhooks")
    gen_id = api.text_to_video(token).json()["generation_id"]
    pid = api.prediction_of(gen_id)
    wait_for(lambda: running.emulator.predictions[pid].data["status"] == "succeeded")
    assert [d for d in running.emulator.deliveries if pid in d["body"]] == []  # none sent
    assert api.status(token, gen_id).json()["status"] == "processing"  # so the API has not heard
    # Ten seconds without news (moved back, not waited for): GET /status asks Replicate itself.
    db.execute("update public.generations set last_event_at = now() - interval '11 seconds', "
               "created_at = created_at - interval '11 seconds' where id = %s", (gen_id,))
    assert settled(api, token, gen_id)["status"] == "succeeded"


def test_faults_are_checked_listed_in_order_and_cleared(api, running):
    assert_error(api.http.post("/dev/emulator/next", json={"fault": "explode"}), 422, "invalid_request")
    assert_error(api.http.post("/dev/emulator/next", json={"fault": "refuse", "status": 404}), 422, "invalid_request")
    arm(api, fault="refuse", status=429)
    assert arm(api, fault="hang", seconds=3) == {"armed": [{"fault": "refuse", "status": 429},
                                                           {"fault": "hang", "seconds": 3.0}]}
    assert api.http.delete("/dev/emulator/next").json() == {"armed": []}
    assert api.text_to_video(api.token()).status_code == 202
