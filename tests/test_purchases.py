"""Buying credits (contract "Buying credits"): the real endpoints, the real Postgres and the Stripe
emulator over loopback, reached by the service through the official `stripe` client.

Every test ends with ledger_discrepancies() empty (the db_url fixture), which now includes the purchase
rules: one purchase row per session, reversals within the purchase, every credited purchase has its row.
"""

from __future__ import annotations

import json
import logging
import time

import pytest

from tests.support import assert_error, balance, run_at_once, wait_for

PACK = "credits-100"  # 100 credits for 500 cents


@pytest.fixture
def stripe(stack):
    return stack.stripe


def buy(api, token, pack=PACK, key=None) -> str:
    headers = api.auth(token, **({"Idempotency-Key": key} if key else {}))
    r = api.http.post("/checkout", json={"pack_id": pack}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["session_id"]


def status(api, token, session_id):
    return api.http.get("/checkout/status", params={"session_id": session_id}, headers=api.auth(token))


def send(api, stripe, event: dict, **sign):
    """Deliver an event as Stripe would (freshly signed), straight to the webhook."""
    payload = json.dumps(event)
    return api.http.post("/webhooks/stripe", content=payload, headers=stripe.signed(payload, **sign))


def purchase_rows(db, session_id):
    return db.execute("select type, amount from public.credit_transactions where purchase_session_id = %s "
                      "order by id", (session_id,)).fetchall()


def purchase(db, session_id) -> dict:
    cur = db.execute("select * from public.purchases where session_id = %s", (session_id,))
    return dict(zip([c.name for c in cur.description], cur.fetchone()))


# --- pricing and creating a session ------------------------------------------------------------------
def test_pricing_lists_the_packs_beside_the_models(api):
    body = api.http.get("/pricing").json()
    assert {"pack_id": "credits-100", "credits": 100, "amount": 500, "currency": "usd"} in body["packs"]
    assert all(set(p) == {"pack_id", "credits", "amount", "currency"} for p in body["packs"])
    assert len(body) > 1  # the catalog's own keys are still there


def test_checkout_creates_a_payment_session_with_inline_price_and_the_user(api, stripe, db):
    user_id, token = api.signup()
    r = api.http.post("/checkout", json={"pack_id": "credits-500"}, headers=api.auth(token))
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"session_id", "checkout_url"}
    assert body["checkout_url"] == f"{stripe.base_url}/checkout/{body['session_id']}"
    sent = stripe.requests[-1]
    params = sent["params"]
    assert params["mode"] == "payment" and params["client_reference_id"] == user_id
    assert params["metadata"]["pack_id"] == "credits-500"
    assert params["line_items"] == [{"quantity": "1", "price_data": {
        "currency": "usd", "unit_amount": "2000", "product_data": {"name": "500 credits"}}}]
    assert params["success_url"].endswith("session_id={CHECKOUT_SESSION_ID}")
    assert sent["headers"]["idempotency-key"]
    assert sent["headers"]["authorization"] == "Bearer sk_test_local_emulator"
    row = purchase(db, body["session_id"])
    assert (row["status"], row["credits"], row["amount"], row["currency"]) == ("open", 500, 2000, "usd")
    answer = status(api, token, body["session_id"]).json()
    assert answer == {"session_id": body["session_id"], "status": "open", "credits": 500, "balance": 100}


def test_unknown_pack_is_a_422_and_no_session_is_made(api, stripe):
    token = api.token()
    before = len(stripe.sessions)
    body = assert_error(api.http.post("/checkout", json={"pack_id": "credits-7"}, headers=api.auth(token)),
                        422, "invalid_request")
    assert body["errors"][0]["field"] == "pack_id"
    assert_error(api.http.post("/checkout", json={"pack_id": PACK}), 401, "unauthorized")
    assert len(stripe.sessions) == before


def test_the_same_idempotency_key_answers_the_same_session_and_another_pack_is_a_409(api, stripe, db):
    token = api.token()
    first = buy(api, token, key="buy-1")
    assert buy(api, token, key="buy-1") == first
    assert_error(api.http.post("/checkout", json={"pack_id": "credits-500"},
                               headers=api.auth(token, **{"Idempotency-Key": "buy-1"})), 409, "idempotency_key_reused")
    other_user_same_key = buy(api, api.token(), key="buy-1")
    assert other_user_same_key != first
    assert db.execute("select count(*) from public.purchases").fetchone()[0] == 2


def test_stripe_down_is_a_503_and_nothing_recorded(api, stripe, db):
    stripe.behaviour.api_status = 500
    r = api.http.post("/checkout", json={"pack_id": PACK}, headers=api.auth(api.token()))
    assert_error(r, 503, "service_unavailable")
    assert db.execute("select count(*) from public.purchases").fetchone()[0] == 0


# --- the outcomes of one session ----------------------------------------------------------------------
def test_a_paid_session_is_credited_once_by_the_webhook(api, stripe, db):
    user_id, token = api.signup()
    sid = buy(api, token)
    stripe.pay(sid)
    assert stripe.deliveries[-1]["status"] == 200
    assert purchase_rows(db, sid) == [("purchase", 100)]
    assert status(api, token, sid).json() == {"session_id": sid, "status": "credited", "credits": 100, "balance": 200}
    ledger = api.credits(token)["transactions"]
    assert ledger[0]["type"] == "purchase" and ledger[0]["amount"] == 100 and ledger[0]["balance_after"] == 200


def test_an_unpaid_completed_session_waits_then_async_success_credits(api, stripe, db):
    user_id, token = api.signup()
    sid = buy(api, token)
    stripe.pay(sid, later=True)  # a delayed method: completed, payment_status unpaid
    assert purchase_rows(db, sid) == [] and status(api, token, sid).json()["status"] == "open"
    stripe.async_result(sid, succeeded=True)
    assert purchase_rows(db, sid) == [("purchase", 100)]
    assert status(api, token, sid).json()["status"] == "credited" and balance(db, user_id) == 200


def test_async_failure_marks_the_purchase_failed_and_credits_nothing(api, stripe, db):
    user_id, token = api.signup()
    sid = buy(api, token)
    stripe.pay(sid, later=True)
    stripe.async_result(sid, succeeded=False)
    assert status(api, token, sid).json() == {"session_id": sid, "status": "failed", "credits": 100, "balance": 100}
    assert purchase_rows(db, sid) == []


def test_an_expired_session_is_marked_and_a_late_expiry_never_uncredits(api, stripe, db):
    user_id, token = api.signup()
    sid = buy(api, token)
    stripe.expire(sid)
    assert status(api, token, sid).json()["status"] == "expired" and balance(db, user_id) == 100
    paid = buy(api, token)
    stripe.pay(paid)
    late = stripe.event("checkout.session.expired", dict(stripe.sessions[paid].data))
    assert send(api, stripe, late).json()["outcome"] == "unchanged"
    assert status(api, token, paid).json()["status"] == "credited"


def test_the_same_event_ten_times_in_a_row_credits_once(api, stripe, db):
    user_id, token = api.signup()
    sid = buy(api, token)
    stripe.pay(sid)
    event = stripe.events[-1]
    outcomes = [send(api, stripe, event).json()["outcome"] for _ in range(10)]
    assert outcomes == ["duplicate_event"] * 10
    assert purchase_rows(db, sid) == [("purchase", 100)] and balance(db, user_id) == 200


def test_the_same_event_ten_times_at_once_credits_once(api, stripe, db):
    user_id, token = api.signup()
    sid = buy(api, token)
    stripe.behaviour.deliver_webhooks = False
    stripe.pay(sid)
    event = stripe.events[-1]
    answers = run_at_once(10, lambda i: send(api, stripe, event))
    assert [a.status_code for a in answers] == [200] * 10
    assert sorted(a.json()["outcome"] for a in answers) == ["credited"] + ["duplicate_event"] * 9
    assert purchase_rows(db, sid) == [("purchase", 100)] and balance(db, user_id) == 200
    assert db.execute("select count(*) from public.stripe_events where event_id = %s", (event["id"],)).fetchone()[0] == 1


def test_completed_and_async_succeeded_for_one_session_credit_once(api, stripe, db):
    user_id, token = api.signup()
    sid = buy(api, token)
    stripe.pay(sid)  # paid at once: completed credits
    again = stripe.event("checkout.session.async_payment_succeeded", dict(stripe.sessions[sid].data))
    assert send(api, stripe, again).json()["outcome"] == "already_credited"
    assert purchase_rows(db, sid) == [("purchase", 100)] and balance(db, user_id) == 200


def test_the_webhook_and_the_success_page_racing_credit_once(api, stripe, db):
    stripe.behaviour.deliver_webhooks = False
    for _ in range(3):
        user_id, token = api.signup()
        sid = buy(api, token)
        stripe.pay(sid)
        event = stripe.events[-1]
        answers = run_at_once(6, lambda i: send(api, stripe, event) if i % 2 else status(api, token, sid))
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
        assert purchase_rows(db, sid) == [("purchase", 100)] and balance(db, user_id) == 200


def test_the_success_page_alone_credits_when_the_webhook_is_lost(api, stripe, db):
    user_id, token = api.signup()
    sid = buy(api, token)
    stripe.behaviour.deliver_webhooks = False
    stripe.pay(sid)
    assert status(api, token, sid).json() == {"session_id": sid, "status": "credited", "credits": 100, "balance": 200}
    stripe.behaviour.deliver_webhooks = True
    assert stripe.deliver(stripe.events[-1]) == 200  # the webhook arrives late: nothing more
    assert purchase_rows(db, sid) == [("purchase", 100)]


@pytest.mark.parametrize("field,value", [
    pytest.param("amount_total", 1, id="amount"),
    pytest.param("currency", "eur", id="currency"),
    pytest.param("client_reference_id", "00000000-0000-0000-0000-000000000000", id="user"),
    pytest.param("metadata", {"pack_id": "credits-1200"}, id="pack"),
])
def test_a_paid_session_that_does_not_match_the_sale_credits_nothing_and_is_logged(api, stripe, db, caplog, field, value):
    user_id, token = api.signup()
    sid = buy(api, token)
    stripe.sessions[sid].data[field] = value  # Stripe reports something else than what we sold
    with caplog.at_level(logging.WARNING):
        stripe.pay(sid)
        assert status(api, token, sid).json()["status"] == "paid"  # paid, held for the operator
    assert purchase_rows(db, sid) == [] and balance(db, user_id) == 100
    assert purchase(db, sid)["mismatch"]
    logged = [json.loads(r.getMessage()) for r in caplog.records if "purchase_mismatch" in r.getMessage()]
    assert logged and logged[0]["session_id"] == sid and logged[0]["event_id"].startswith("evt_")


# --- signatures ------------------------------------------------------------------------------------------
def test_forged_stale_tampered_and_unsigned_deliveries_are_401_and_change_nothing(api, stripe, db):
    user_id, token = api.signup()
    sid = buy(api, token)
    stripe.behaviour.deliver_webhooks = False
    stripe.pay(sid)
    event = stripe.events[-1]
    payload = json.dumps(event)
    forged = stripe.signed(payload, secret="whsec_not_the_real_one")
    stale = stripe.signed(payload, timestamp=int(time.time()) - 6 * 60)
    tampered_body = payload.replace('"paid"', '"paid" ')  # any change to the signed bytes
    for body, headers in [(payload, forged), (payload, stale), (tampered_body, stripe.signed(payload)),
                          (payload, {"Content-Type": "application/json"})]:
        assert_error(api.http.post("/webhooks/stripe", content=body, headers=headers), 401, "invalid_signature")
    assert db.execute("select count(*) from public.stripe_events").fetchone()[0] == 0
    assert purchase_rows(db, sid) == [] and balance(db, user_id) == 100


def test_an_event_of_another_type_is_200_and_changes_nothing(api, stripe, db):
    user_id, token = api.signup()
    r = send(api, stripe, stripe.event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert r.status_code == 200 and r.json()["outcome"] == "ignored"
    assert balance(db, user_id) == 100


def test_a_webhook_that_cannot_reach_stripe_is_a_503_and_the_retry_credits(api, stripe, db):
    user_id, token = api.signup()
    sid = buy(api, token)
    stripe.behaviour.api_status = 500  # the session fetch fails: the event is not recorded
    stripe.behaviour.webhook_attempts = 1
    stripe.pay(sid)
    assert stripe.deliveries[-1]["status"] == 503
    assert db.execute("select count(*) from public.stripe_events").fetchone()[0] == 0
    stripe.behaviour.api_status = None
    assert stripe.deliver(stripe.events[-1]) == 200  # Stripe's retry
    assert purchase_rows(db, sid) == [("purchase", 100)]


# --- refunds and disputes --------------------------------------------------------------------------------
def test_a_partial_then_a_full_refund_take_back_each_share_once(api, stripe, db):
    user_id, token = api.signup()
    sid = buy(api, token)
    stripe.pay(sid)
    stripe.refund(sid, 200)  # 200 of 500 cents: 40 of 100 credits
    assert purchase_rows(db, sid) == [("purchase", 100), ("reversal", -40)]
    first_refund_event = stripe.events[-1]
    assert send(api, stripe, first_refund_event).json()["outcome"] == "duplicate_event"
    stripe.refund(sid)  # the remaining 300: charge.refunded says amount_refunded 500, two refunds
    assert purchase_rows(db, sid) == [("purchase", 100), ("reversal", -40), ("reversal", -60)]
    # the first refund's event again, as a new delivery of old news (a new event id): nothing more
    late = stripe.event("charge.refunded", first_refund_event["data"]["object"])
    assert send(api, stripe, late).json()["outcome"] == "settled"
    assert balance(db, user_id) == 100
    assert status(api, token, sid).json()["status"] == "reversed"
    assert db.execute("select count(*) from public.purchase_refunds where payment_intent = %s",
                      (purchase(db, sid)["payment_intent"],)).fetchone()[0] == 2
    types = [t["type"] for t in api.credits(token)["transactions"]]
    assert types[:3] == ["reversal", "reversal", "purchase"]


def test_a_refund_that_arrives_before_the_payment_is_credited_is_taken_back_when_it_is(api, stripe, db):
    user_id, token = api.signup()
    sid = buy(api, token)
    stripe.behaviour.deliver_webhooks = False
    stripe.pay(sid)
    stripe.refund(sid, 200)
    completed, refunded = stripe.events[-2], stripe.events[-1]
    assert send(api, stripe, refunded).json()["outcome"] == "recorded"  # no purchase knows this payment yet
    assert send(api, stripe, completed).json()["outcome"] == "credited"
    assert purchase_rows(db, sid) == [("purchase", 100), ("reversal", -40)]
    assert status(api, token, sid).json() == {"session_id": sid, "status": "reversed", "credits": 100, "balance": 160}


def test_a_dispute_lost_after_the_credits_were_spent_never_goes_below_zero(api, stripe, db, credits):
    user_id, token = api.signup()
    sid = buy(api, token)
    stripe.pay(sid)
    credits.add_credits(user_id, -190, "adjustment", "spent")  # 200 -> 10 left
    stripe.dispute(sid)  # takes back 100: only 10 can be taken, 90 unrecovered
    assert purchase_rows(db, sid) == [("purchase", 100), ("reversal", -10)]
    assert balance(db, user_id) == 0 and purchase(db, sid)["unrecovered_credits"] == 90
    stripe.close_dispute(sid, "lost")
    assert balance(db, user_id) == 0 and purchase(db, sid)["unrecovered_credits"] == 90
    assert status(api, token, sid).json()["status"] == "reversed"


def test_a_dispute_won_gives_back_what_was_taken_and_forgives_the_rest(api, stripe, db, credits):
    user_id, token = api.signup()
    sid = buy(api, token)
    stripe.pay(sid)
    credits.add_credits(user_id, -150, "adjustment", "spent")  # 200 -> 50
    stripe.dispute(sid)  # -50 taken, 50 unrecovered
    assert balance(db, user_id) == 0
    stripe.close_dispute(sid, "won")  # 50 forgiven first (never taken), 50 given back
    assert purchase_rows(db, sid) == [("purchase", 100), ("reversal", -50), ("reversal", 50)]
    assert balance(db, user_id) == 50 and purchase(db, sid)["unrecovered_credits"] == 0
    assert status(api, token, sid).json()["status"] == "credited"
    # the dispute's created event delivered late again (reordered): a won dispute stays won
    created = next(e for e in stripe.events if e["type"] == "charge.dispute.created")
    send(api, stripe, stripe.event("charge.dispute.created", created["data"]["object"]))
    assert balance(db, user_id) == 50


def test_a_dispute_closed_before_its_created_event_arrives_takes_nothing(api, stripe, db):
    user_id, token = api.signup()
    sid = buy(api, token)
    stripe.pay(sid)
    stripe.behaviour.deliver_webhooks = False
    stripe.dispute(sid)
    stripe.close_dispute(sid, "won")
    created, closed = stripe.events[-2], stripe.events[-1]
    send(api, stripe, closed)
    send(api, stripe, created)
    assert purchase_rows(db, sid) == [("purchase", 100)] and balance(db, user_id) == 200


# --- who may see what ------------------------------------------------------------------------------------
def test_another_users_session_is_404_on_checkout_status(api, stripe):
    token = api.token()
    sid = buy(api, token)
    assert_error(status(api, api.token(), sid), 404, "not_found")
    assert_error(status(api, token, "cs_test_unknown"), 404, "not_found")
    assert_error(api.http.get("/checkout/status", params={"session_id": sid}), 401, "unauthorized")


# --- the emulator's page, as a person uses it -------------------------------------------------------------
def test_the_emulator_page_pay_button_credits_through_the_webhook(api, stripe, db):
    import httpx

    user_id, token = api.signup()
    checkout = api.http.post("/checkout", json={"pack_id": PACK}, headers=api.auth(token)).json()
    page = httpx.get(checkout["checkout_url"], timeout=30)
    assert page.status_code == 200 and "Pay" in page.text and "Decline" in page.text
    sid = checkout["session_id"]
    done = httpx.post(f"{stripe.base_url}/checkout/{sid}/pay", follow_redirects=False, timeout=30)
    assert done.status_code == 303 and done.headers["location"].endswith(f"session_id={sid}")
    assert httpx.get(done.headers["location"], timeout=30).status_code == 200
    wait_for(lambda: any(d["status"] == 200 for d in stripe.deliveries))
    assert status(api, token, sid).json()["status"] == "credited" and balance(db, user_id) == 200
    assert purchase_rows(db, sid) == [("purchase", 100)]


def test_the_emulator_page_decline_button_credits_nothing(api, stripe, db):
    import httpx

    user_id, token = api.signup()
    checkout = api.http.post("/checkout", json={"pack_id": PACK}, headers=api.auth(token)).json()
    r = httpx.post(f"{stripe.base_url}/checkout/{checkout['session_id']}/decline", follow_redirects=False, timeout=30)
    assert r.status_code == 303 and r.headers["location"] == api.stack.settings.checkout_cancel_url
    assert status(api, token, checkout["session_id"]).json()["status"] == "open" and balance(db, user_id) == 100


def test_the_emulator_cli_refunds_a_session(api, stripe, db, capsys):
    from wan_local import stripe_emulator

    user_id, token = api.signup()
    sid = buy(api, token)
    stripe.pay(sid)
    assert stripe_emulator.main(["refund", stripe.base_url, sid, "--amount", "250"]) == 0
    assert '"charge.refunded"' in capsys.readouterr().out
    assert purchase_rows(db, sid) == [("purchase", 100), ("reversal", -50)]


# --- the books ------------------------------------------------------------------------------------------
def test_ledger_discrepancies_reports_each_broken_purchase_rule(api, stripe, db_url):
    """Break each purchase rule as the owner (inside a transaction rolled back at the end) and see it
    reported: a second purchase row for a session, a credited purchase without its row, and reversals
    beyond the purchase."""
    import psycopg

    user_id, token = api.signup()
    credited, open_one = buy(api, token), buy(api, token)
    stripe.pay(credited)

    def problems(conn):
        return {row[0] for row in conn.execute("select problem from public.ledger_discrepancies()")}

    with psycopg.connect(db_url) as conn:
        assert problems(conn) == set()
        conn.execute("drop index public.one_purchase_per_session")
        conn.execute("insert into public.credit_transactions (user_id, amount, type, balance_after, purchase_session_id) "
                     "values (%s, 100, 'purchase', 300, %s)", (user_id, credited))
        conn.execute("update public.profiles set credits = 300 where id = %s", (user_id,))
        assert problems(conn) == {"purchase_credited_twice"}
        conn.rollback()
        conn.execute("update public.purchases set status = 'credited' where session_id = %s", (open_one,))
        assert problems(conn) == {"purchase_status_mismatch"}
        conn.rollback()
        conn.execute("insert into public.credit_transactions (user_id, amount, type, balance_after, purchase_session_id) "
                     "values (%s, -150, 'reversal', 50, %s)", (user_id, credited))
        conn.execute("update public.profiles set credits = 50 where id = %s", (user_id,))
        assert problems(conn) == {"bad_reversal"}
        conn.rollback()
        assert problems(conn) == set()


def test_the_ledger_refuses_a_second_purchase_row_for_a_session_even_from_the_owner(api, stripe, db):
    import psycopg

    user_id, token = api.signup()
    sid = buy(api, token)
    stripe.pay(sid)
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute("insert into public.credit_transactions (user_id, amount, type, balance_after, purchase_session_id) "
                   "values (%s, 100, 'purchase', 300, %s)", (user_id, sid))
    with pytest.raises(psycopg.errors.CheckViolation):  # a reversal names its purchase
        db.execute("insert into public.credit_transactions (user_id, amount, type, balance_after) "
                   "values (%s, -1, 'reversal', 199)", (user_id,))


def test_without_stripe_keys_checkout_is_a_503_and_the_webhook_trusts_nothing(api, stripe, db):
    """An operator may deploy before selling: no STRIPE_SECRET_KEY / STRIPE_WEBHOOK_SECRET."""
    services = api.stack.services
    user_id, token = api.signup()
    sid = buy(api, token)
    configured = services.settings
    services.settings = configured.model_copy(update={"stripe_secret_key": None, "stripe_webhook_secret": None})
    services.__dict__.pop("stripe", None)  # the client is made from the settings on first use
    try:
        assert_error(api.http.post("/checkout", json={"pack_id": PACK}, headers=api.auth(token)),
                     503, "service_unavailable")
        assert status(api, token, sid).json()["status"] == "open"  # what is recorded, without asking Stripe
        stripe.behaviour.webhook_attempts = 1
        stripe.pay(sid)
        assert stripe.deliveries[-1]["status"] == 401
    finally:
        services.settings = configured
        services.__dict__.pop("stripe", None)
    assert purchase_rows(db, sid) == [] and balance(db, user_id) == 100


def test_a_malformed_session_id_is_a_422_not_a_5xx(api):
    token = api.token()
    for bad in ["\x00", "cs_test_1 or 1=1", "x" * 300]:
        body = assert_error(status(api, token, bad), 422, "invalid_request")
        assert body["errors"][0]["field"] == "session_id"
