"""Issue 20, items 1 and 2 (Stripe): a signed but malformed event is a 400 invalid_payload (logged with
its id), never a 5xx; a session Stripe does not know is 200 unknown_session; signatures dated in the
future are refused; the dispute statuses of the current API and failed refunds move credits as they
should, once, whatever repeats or reorders; the API version is pinned and the emulator claims it.

Real stack: the endpoints, Postgres, and the Stripe emulator reached through the official client.
"""

from __future__ import annotations

import json
import logging
import time

import pytest

from shared.purchases import STRIPE_API_VERSION
from tests.support import assert_error, balance
from tests.test_purchases import PACK, buy, purchase, purchase_rows, send


@pytest.fixture
def stripe(stack):
    return stack.stripe


def paid(api, stripe):
    user_id, token = api.signup()
    sid = buy(api, token, PACK)  # 100 credits for 500 cents
    stripe.pay(sid)
    return user_id, token, sid


def post_signed(api, stripe, payload: str):
    return api.http.post("/webhooks/stripe", content=payload, headers=stripe.signed(payload))


def charge_event(stripe, sid, **changes):
    charge = json.loads(json.dumps(stripe.sessions[sid].charge))
    return stripe.event("charge.refunded", {**charge, **changes})


def dispute_event(stripe, sid, kind="charge.dispute.created", **changes):
    charge = stripe.sessions[sid].charge
    dispute = {"id": "dp_test_1", "object": "dispute", "amount": charge["amount"], "charge": charge["id"],
               "currency": "usd", "payment_intent": charge["payment_intent"], "status": "needs_response"}
    return stripe.event(kind, {**dispute, **changes})


# --- 1. a signed event that is simply malformed is a 400 --------------------------------------------------
MALFORMED = {
    "dispute_amount_negative": lambda s, sid: dispute_event(s, sid, amount=-5),
    "dispute_amount_text": lambda s, sid: dispute_event(s, sid, amount="abc"),
    "dispute_amount_fraction": lambda s, sid: dispute_event(s, sid, amount=12.5),
    "dispute_amount_huge": lambda s, sid: dispute_event(s, sid, amount=10 ** 15),
    "dispute_amount_bool": lambda s, sid: dispute_event(s, sid, amount=True),
    "dispute_id_object": lambda s, sid: dispute_event(s, sid, id={"id": "dp_1"}),
    "dispute_status_nul": lambda s, sid: dispute_event(s, sid, status="lost\x00"),
    "refunded_negative": lambda s, sid: charge_event(s, sid, amount_refunded=-1),
    "refunded_beyond_int": lambda s, sid: charge_event(s, sid, amount_refunded=10 ** 12),
    "refunded_beyond_the_charge": lambda s, sid: charge_event(s, sid, amount_refunded=501),
    "payment_intent_number": lambda s, sid: charge_event(s, sid, payment_intent=12345),
    "payment_intent_500kb": lambda s, sid: charge_event(s, sid, payment_intent="pi_" + "x" * 500_000),
    "refund_in_list_text_amount": lambda s, sid: charge_event(
        s, sid, refunds={"data": [{"id": "re_1", "amount": "100"}]}),
    "session_id_nul": lambda s, sid: s.event("checkout.session.completed", {"id": "cs_\x00"}),
    "session_id_object": lambda s, sid: s.event("checkout.session.expired", {"id": {"a": 1}}),
    "event_id_nul": lambda s, sid: {**s.event("customer.created", {"id": "cus_1"}), "id": "evt_\x00"},
    "no_data_object": lambda s, sid: {**s.event("charge.refunded", {}), "data": {}},
    "refund_event_amount_negative": lambda s, sid: s.event("refund.failed", {
        "id": "re_1", "amount": -100, "status": "failed", "payment_intent": "pi_1"}),
}
RAW = {
    "a_list": '["a"]', "a_string": '"hello"', "a_number": "5", "null": "null",
    "nested_50000": "[" * 50_000 + "]" * 50_000, "lone_surrogate": '{"id": "evt_1", "type": "x\\ud800", "data": {}}',
    "not_json": "{oops",
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_signed_but_malformed_stripe_event_is_a_400_and_changes_nothing(api, stripe, db, caplog, name):
    user_id, token, sid = paid(api, stripe)
    event = MALFORMED[name](stripe, sid)
    recorded = db.execute("select count(*) from public.stripe_events").fetchone()[0]
    with caplog.at_level(logging.WARNING):
        r = send(api, stripe, event)
    assert_error(r, 400, "invalid_payload")
    assert db.execute("select count(*) from public.stripe_events").fetchone()[0] == recorded
    assert purchase_rows(db, sid) == [("purchase", 100)] and balance(db, user_id) == 200
    logged = [json.loads(rec.getMessage()) for rec in caplog.records if "stripe_event_invalid" in rec.getMessage()]
    assert logged and logged[-1]["error"] == r.json()["detail"]
    if name not in ("event_id_nul",):
        assert logged[-1]["event_id"] == event["id"]  # the event is named in the log


@pytest.mark.parametrize("name", list(RAW))
def test_a_signed_body_that_is_not_an_event_is_a_400_and_the_connection_stays(api, stripe, name):
    first = post_signed(api, stripe, RAW[name])
    assert_error(first, 400, "invalid_payload")
    again = post_signed(api, stripe, RAW[name])  # the same keep-alive connection still serves
    assert_error(again, 400, "invalid_payload")


def test_a_completed_event_for_a_session_stripe_does_not_know_is_200_unknown_session(api, stripe, db):
    r = send(api, stripe, stripe.event("checkout.session.completed", {"id": "cs_test_nobody_knows"}))
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "unknown_session"
    row = db.execute("select outcome from public.stripe_events").fetchall()
    assert row == [("unknown_session",)]


# --- 2. signatures and the API version --------------------------------------------------------------------
def test_a_signature_dated_in_the_future_is_refused(api, stripe, db):
    user_id, token = api.signup()
    sid = buy(api, token)
    stripe.behaviour.deliver_webhooks = False
    stripe.pay(sid)
    payload = json.dumps(stripe.events[-1])
    for ahead in (6 * 60, 365 * 24 * 3600):
        headers = stripe.signed(payload, timestamp=int(time.time()) + ahead)
        assert_error(api.http.post("/webhooks/stripe", content=payload, headers=headers), 401, "invalid_signature")
    assert purchase_rows(db, sid) == []
    near = stripe.signed(payload, timestamp=int(time.time()) + 60)  # clocks differ a little: accepted
    assert api.http.post("/webhooks/stripe", content=payload, headers=near).json()["outcome"] == "credited"


def test_the_api_version_is_pinned_and_the_emulator_claims_the_same(api, stripe):
    user_id, token, sid = paid(api, stripe)
    assert STRIPE_API_VERSION == "2025-10-29.clover"
    sent = [r for r in stripe.requests if r.get("headers")]
    assert sent and all(r["headers"].get("stripe-version") == STRIPE_API_VERSION for r in sent)
    assert all(e["api_version"] == STRIPE_API_VERSION for e in stripe.events)


# --- 2. disputes as a table -------------------------------------------------------------------------------
# Each row: the statuses a dispute of the whole charge goes through (the first is its created event,
# the others updated/closed events), and the balance after each. 200 = 100 bonus + the pack.
DISPUTES = [
    pytest.param(["needs_response", "won"], [100, 200], id="won"),
    pytest.param(["needs_response", "lost"], [100, 100], id="lost"),
    pytest.param(["warning_needs_response", "warning_closed"], [100, 200], id="inquiry_closed"),
    pytest.param(["needs_response", "prevented"], [100, 200], id="prevented"),
    pytest.param(["needs_response", "under_review", "lost", "appeal_needs_response", "appeal_under_review", "won"],
                 [100, 100, 100, 100, 100, 200], id="lost_then_won_on_appeal"),
    pytest.param(["needs_response", "won", "lost"], [100, 200, 200], id="won_is_final"),
    pytest.param(["needs_response", "won", "needs_response"], [100, 200, 200], id="late_open_after_won"),
    pytest.param(["needs_response", "lost", "needs_response"], [100, 100, 100], id="late_open_after_lost"),
    pytest.param(["warning_under_review", "some_future_status"], [100, 100], id="unknown_status_stays_owed"),
]


@pytest.mark.parametrize("statuses,balances", DISPUTES)
def test_the_dispute_state_machine(api, stripe, db, statuses, balances):
    user_id, token, sid = paid(api, stripe)
    seen = []
    for i, status in enumerate(statuses):
        kind = "charge.dispute.created" if i == 0 else (
            "charge.dispute.closed" if status in ("won", "lost", "warning_closed", "prevented") else "charge.dispute.updated")
        event = dispute_event(stripe, sid, kind, status=status)
        assert send(api, stripe, event).status_code == 200
        assert send(api, stripe, event).json()["outcome"] == "duplicate_event"  # the same delivery again
        seen.append(balance(db, user_id))
    assert seen == balances
    taken = -sum(a for t, a in purchase_rows(db, sid) if t == "reversal")
    assert taken == 200 - balances[-1]


def test_dispute_events_delivered_in_reverse_order_end_as_the_last_status(api, stripe, db):
    """lost, then won on appeal, delivered newest first: the won arrives first and stays."""
    user_id, token, sid = paid(api, stripe)
    events = [dispute_event(stripe, sid, "charge.dispute.created"),
              dispute_event(stripe, sid, "charge.dispute.closed", status="lost"),
              dispute_event(stripe, sid, "charge.dispute.updated", status="appeal_under_review"),
              dispute_event(stripe, sid, "charge.dispute.closed", status="won")]
    for event in reversed(events):
        send(api, stripe, event)
    assert purchase_rows(db, sid) == [("purchase", 100)] and balance(db, user_id) == 200


# --- 2. refunds that fail ---------------------------------------------------------------------------------
def test_a_refund_that_fails_gives_back_what_it_took_once(api, stripe, db):
    user_id, token, sid = paid(api, stripe)
    stripe.refund(sid, 200)  # 40 of 100 credits
    assert balance(db, user_id) == 160
    stripe.fail_refund(sid)  # charge.refund.updated (failed), then refund.failed
    assert [e["type"] for e in stripe.events[-2:]] == ["charge.refund.updated", "refund.failed"]
    assert purchase_rows(db, sid) == [("purchase", 100), ("reversal", -40), ("reversal", 40)]
    assert balance(db, user_id) == 200 and purchase(db, sid)["status"] == "credited"
    for event in stripe.events[-3:]:  # the refund, updated and failed events again, as new deliveries
        send(api, stripe, stripe.event(event["type"], event["data"]["object"]))
    assert balance(db, user_id) == 200
    assert len(purchase_rows(db, sid)) == 3


def test_a_failed_refund_never_gives_back_more_than_was_taken(api, stripe, db, credits):
    user_id, token, sid = paid(api, stripe)
    credits.add_credits(user_id, -180, "adjustment", "spent")  # 200 -> 20
    stripe.refund(sid)  # the whole charge: 100 owed, 20 taken, 80 unrecovered
    assert balance(db, user_id) == 0 and purchase(db, sid)["unrecovered_credits"] == 80
    stripe.fail_refund(sid)  # 80 forgiven (never taken), 20 given back
    assert purchase_rows(db, sid) == [("purchase", 100), ("reversal", -20), ("reversal", 20)]
    assert balance(db, user_id) == 20 and purchase(db, sid)["unrecovered_credits"] == 0


def test_a_failed_refund_reported_before_its_charge_refunded_event_takes_nothing(api, stripe, db):
    user_id, token, sid = paid(api, stripe)
    stripe.behaviour.deliver_webhooks = False
    stripe.refund(sid, 200)
    stripe.fail_refund(sid)
    refunded, updated, failed = stripe.events[-3:]
    for event in (failed, refunded, updated):  # reordered: the failure first
        assert send(api, stripe, event).status_code == 200
    assert purchase_rows(db, sid) == [("purchase", 100)] and balance(db, user_id) == 200
    # and a later, second refund that succeeds is still taken back
    stripe.behaviour.deliver_webhooks = True
    stripe.refund(sid, 100)  # 20 credits
    assert balance(db, user_id) == 180


def test_a_late_succeeded_event_for_a_failed_refund_changes_nothing(api, stripe, db):
    user_id, token, sid = paid(api, stripe)
    stripe.refund(sid, 500)
    refund = dict(stripe.sessions[sid].charge["refunds"]["data"][0])
    stripe.fail_refund(sid)
    assert balance(db, user_id) == 200
    send(api, stripe, stripe.event("refund.updated", {**refund, "status": "succeeded"}))  # stale news
    assert balance(db, user_id) == 200


def test_a_refund_failure_delivered_ten_times_at_once_gives_back_once(api, stripe, db):
    from tests.support import run_at_once

    user_id, token, sid = paid(api, stripe)
    stripe.refund(sid, 500)  # all 100 credits taken back
    assert balance(db, user_id) == 100
    stripe.behaviour.deliver_webhooks = False
    stripe.fail_refund(sid)
    updated, failed = stripe.events[-2:]
    # ten different deliveries (new event ids) of the same failure, at once, both event types
    events = [stripe.event((updated, failed)[i % 2]["type"], (updated, failed)[i % 2]["data"]["object"])
              for i in range(10)]
    answers = run_at_once(10, lambda i: send(api, stripe, events[i]))
    assert [a.status_code for a in answers] == [200] * 10
    assert purchase_rows(db, sid) == [("purchase", 100), ("reversal", -100), ("reversal", 100)]
    assert balance(db, user_id) == 200
