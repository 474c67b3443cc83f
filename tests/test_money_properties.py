"""Random histories against the money rules: a hypothesis state machine drives the real endpoints, the
real Postgres and the Replicate emulator through sign-ups, top-ups, creates (with and without keys,
with Replicate failing or hanging), webhooks (duplicated, reordered, late, forged, for strangers),
cancels, retries, sweeps (some overlapping) and time passing. After every step the books must
balance and every answer must have had the contract's shape.

CI runs a bounded number of histories; WAN_PROPERTY_EXAMPLES=2000 scripts/test -k properties runs
thousands.
"""

from __future__ import annotations

import json
import os
import uuid

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (Bundle, RuleBasedStateMachine, initialize, invariant, multiple, rule,
                                 run_state_machine_as_test)

from shared.replicate_provider import ReplicateProvider
from shared.sweep import sweep
from tests.support import Api, run_at_once
from wan_local.replicate_emulator import ReplicateEmulator

EXAMPLES = int(os.environ.get("WAN_PROPERTY_EXAMPLES", "25"))
STEPS = int(os.environ.get("WAN_PROPERTY_STEPS", "40"))

# Every status an endpoint may answer, and the codes that go with the errors (contract section 2).
ALLOWED = {
    "create": {202: None, 402: "insufficient_credits", 409: "idempotency_key_reused",
               429: "too_many_active_generations", 503: "provider_unavailable"},
    "cancel": {200: None, 409: "invalid_state", 404: "not_found"},
    "retry": {202: None, 402: "insufficient_credits", 409: "invalid_state", 404: "not_found",
              429: "too_many_active_generations", 503: "provider_unavailable"},
    "status": {200: None, 404: "not_found"},
    "webhook": {200: None},
    "forged": {401: "invalid_signature"},
}
GENERATION_FIELDS = {"generation_id", "kind", "model", "resolution", "prompt", "status", "terminal", "progress",
                     "video_url", "error", "cost", "refunded", "created_at", "updated_at", "completed_at"}


def check_answer(kind: str, response: httpx.Response) -> dict:
    """The answer is one the contract allows for this endpoint, in the contract's shape."""
    allowed = ALLOWED[kind]
    assert response.status_code in allowed, (kind, response.status_code, response.text)
    body = response.json()
    code = allowed[response.status_code]
    if code:
        assert body["code"] == code and isinstance(body["detail"], str) and body["detail"], body
        if response.status_code in (429, 503):
            assert int(response.headers["Retry-After"]) > 0
        if code == "insufficient_credits":
            assert body["required"] > body["balance"] >= 0
    elif kind == "status" or kind == "cancel":
        assert GENERATION_FIELDS <= set(body), body
    elif kind in ("create", "retry"):
        assert {"generation_id", "status", "cost", "credits_remaining"} <= set(body), body
    return body


class MoneyMachine(RuleBasedStateMachine):
    """One history. Class attributes `api` and `db` are set by the test before it runs."""

    api: Api
    db = None

    users = Bundle("users")
    generations = Bundle("generations")

    def __init__(self):
        super().__init__()
        self.user_ids: list[str] = []
        self.deliveries: list[tuple[str, str, dict]] = []  # (gen_id, raw body, headers) already sent once
        self.emulator.behaviour.create_status = None
        self.emulator.behaviour.create_hang_seconds = 0.0

    @property
    def emulator(self) -> ReplicateEmulator:
        return self.api.stack.emulator

    # --- people and money ----------------------------------------------------------------------
    @initialize(target=users)
    def first_user(self):
        return self.sign_up()

    @initialize(target=users)
    def second_user(self):
        return self.sign_up()

    @rule(target=users)
    def sign_up(self):
        user_id, token = self.api.signup()
        self.user_ids.append(user_id)
        return (user_id, token)

    @rule(user=users, amount=st.sampled_from([5, 10, 50]))
    def top_up(self, user, amount):
        self.api.stack.services.credits.add_credits(user[0], amount, "purchase", "top-up")

    # --- creating ---------------------------------------------------------------------------------
    @rule(target=generations, user=users, key=st.sampled_from([None, None, None, "k1", "k2"]),
          resolution=st.sampled_from(["480p", "720p"]), prompt=st.sampled_from(["a fox", "a cat"]),
          replicate=st.sampled_from(["ok", "ok", "ok", "503", "429", "hangs"]))
    def create(self, user, key, resolution, prompt, replicate):
        behaviour = self.emulator.behaviour
        behaviour.create_status = {"503": 503, "429": 429}.get(replicate)
        behaviour.create_hang_seconds = 1.0 if replicate == "hangs" else 0.0
        try:
            r = self.api.text_to_video(user[1], key=key, resolution=resolution, prompt=prompt)
        finally:
            behaviour.create_status, behaviour.create_hang_seconds = None, 0.0
        body = check_answer("create", r)
        if r.status_code != 202:
            return multiple()
        return (user, body["generation_id"])

    @rule(target=generations, gen=generations)
    def retry(self, gen):
        (user, gen_id) = gen
        r = self.api.http.post("/retry", json={"generation_id": gen_id}, headers=self.api.auth(user[1]))
        body = check_answer("retry", r)
        return (user, body["generation_id"]) if r.status_code == 202 else multiple()

    # --- what Replicate says ------------------------------------------------------------------------
    @rule(gen=generations, status=st.sampled_from(["starting", "processing", "succeeded", "failed",
                                                    "canceled", "aborted"]),
          percent=st.integers(0, 100), times=st.sampled_from([1, 1, 2, 3]))
    def webhook(self, gen, status, percent, times):
        (_, gen_id) = gen
        pid = self._prediction_id(gen_id)
        body = {"id": pid, "status": status, "logs": f"{percent}%", "error": "boom" if status == "failed" else None,
                "output": self.emulator._output_url(pid) if status == "succeeded" else None}
        raw = json.dumps(body)
        headers = self.emulator.signed_headers(raw)
        for _ in range(times):  # duplicates: the same delivery again
            self._send(gen_id, raw, headers, "webhook")
        self.deliveries.append((gen_id, raw, headers))

    @rule(data=st.data())
    def late_or_reordered_delivery(self, data):
        if not self.deliveries:
            return
        gen_id, raw, _ = data.draw(st.sampled_from(self.deliveries))
        self._send(gen_id, raw, self.emulator.signed_headers(raw), "webhook")  # new id, old news

    @rule(gen=generations)
    def forged_webhook(self, gen):
        (_, gen_id) = gen
        raw = json.dumps({"id": self._prediction_id(gen_id), "status": "failed"})
        self._send(gen_id, raw, ReplicateEmulator().signed_headers(raw), "forged")

    @rule()
    def webhook_for_a_stranger(self):
        raw = json.dumps({"id": "not-ours", "status": "succeeded", "output": "http://127.0.0.1:9/x.mp4"})
        self._send(str(uuid.uuid4()), raw, self.emulator.signed_headers(raw), "webhook")

    # --- the user and the operator ---------------------------------------------------------------
    @rule(gen=generations, by_owner=st.booleans())
    def cancel(self, gen, by_owner):
        (user, gen_id) = gen
        token = user[1] if by_owner else self.api.token()
        r = self.api.http.post("/cancel", json={"generation_id": gen_id}, headers=self.api.auth(token))
        check_answer("cancel", r)
        assert by_owner or r.status_code == 404

    @rule(gen=generations)
    def status(self, gen):
        (user, gen_id) = gen
        body = check_answer("status", self.api.status(user[1], gen_id))
        assert body["terminal"] == (body["status"] in ("succeeded", "failed", "canceled"))

    @rule(overlapping=st.booleans())
    def sweep(self, overlapping):
        if overlapping:
            run_at_once(2, lambda i: sweep(self.api.stack.services))
        else:
            sweep(self.api.stack.services)

    @rule(minutes=st.sampled_from([5, 11, 50]))
    def time_passes(self, minutes):
        self.db.execute(
            "update public.generations set created_at = created_at - make_interval(mins => %(m)s), "
            "last_event_at = last_event_at - make_interval(mins => %(m)s), "
            "completed_at = completed_at - make_interval(mins => %(m)s), sweep_claimed_at = null "
            "where user_id = any(%(users)s::uuid[])", {"m": minutes, "users": self.user_ids})

    # --- the rules --------------------------------------------------------------------------------
    @invariant()
    def books_balance(self):
        problems = self.api.stack.services.credits.ledger_discrepancies()
        assert problems == [], problems

    @invariant()
    def every_generation_is_charged_its_cost_once_and_refunded_only_if_it_failed(self):
        rows = self.db.execute(
            """select g.id, g.status, g.cost,
                      (select array_agg(t.amount order by t.id) from public.credit_transactions t
                        where t.generation_id = g.id) as amounts
               from public.generations g where g.user_id = any(%s::uuid[])""", (self.user_ids,)).fetchall()
        for gen_id, status, cost, amounts in rows:
            expected = [-cost, cost] if status in ("failed", "canceled") else [-cost]
            assert amounts == expected, (gen_id, status, amounts)

    # --- helpers ------------------------------------------------------------------------------------
    def _prediction_id(self, gen_id: str) -> str:
        row = self.db.execute("select replicate_id from public.generations where id = %s", (gen_id,)).fetchone()
        return row[0] if row and row[0] else f"never-started-{gen_id[:8]}"

    def _send(self, gen_id: str, raw: str, headers: dict, kind: str) -> None:
        r = self.api.http.post("/webhooks/replicate", params={"generation_id": gen_id}, content=raw,
                               headers=headers)
        check_answer(kind, r)


@pytest.mark.timeout(900)
def test_random_histories_keep_the_money_rules(api, db):
    emulator = api.stack.emulator
    emulator.behaviour.deliver_webhooks = False  # the machine delivers every webhook itself
    stack = api.stack
    stack.services.provider = ReplicateProvider(stack.settings.replicate_api_token, stack.settings.replicate_base_url,
                                                timeout_seconds=0.5)
    MoneyMachine.api, MoneyMachine.db = api, db
    history_settings = settings(
        max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, derandomize=not os.environ.get("WAN_PROPERTY_EXAMPLES"),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    run_state_machine_as_test(MoneyMachine, settings=history_settings)
