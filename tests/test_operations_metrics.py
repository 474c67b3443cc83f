"""The operator's metrics on a known history: operator_metrics() (the database's arithmetic), the
Prometheus text of GET /metrics and its token guard, and how each generation records what settled it."""

from __future__ import annotations

import re

import psycopg
import pytest

from shared import metrics
from shared.credits import NewGeneration
from tests.support import assert_error, make_user, wait_for

T0 = "2026-01-01 00:00:00+00"


def _create(credits, user, model="t2v-14B", resolution="480p") -> str:
    return credits.create_generation(NewGeneration(
        user_id=user, kind="text-to-video", model=model, resolution=resolution, prompt="p", cost=10,
        max_active=100))["generation_id"]


def _timeline(db, gen_id, *, took: float, queued: float | None = None) -> None:
    """Pin the generation's times: created at T0, finished `took` s later, started `queued` s later."""
    db.execute("update public.generations set created_at = %s, completed_at = %s::timestamptz + make_interval(secs => %s),"
               " started_at = case when %s::float8 is null then null else %s::timestamptz + make_interval(secs => %s) end"
               " where id = %s", (T0, T0, took, queued, T0, queued or 0, gen_id))


@pytest.fixture
def history(db, backend, credits):
    """Eight generations of one user (10 credits each, 100 to start):

    t2v-14B 480p  A succeeded by webhook     took 120 s, queued 30 s
                  B succeeded by status poll took 400 s, queued 90 s
                  C failed by webhook (provider_failed)       refunded
                  D failed by the sweep (timed_out)           refunded
                  E canceled by its user                      refunded
                  F refused by Replicate at create            refunded
                  G still processing
    t2v-1.3B 480p H succeeded by webhook, took 60 s, video lost -> goodwill refund
    """
    user = make_user(db)
    call = backend.call
    a, b, c, d, e, f, g = (_create(credits, user) for _ in range(7))
    h = _create(credits, user, model="t2v-1.3B")
    for gen, pid in ((a, "pa"), (b, "pb"), (c, "pc"), (d, "pd"), (e, "pe"), (g, "pg"), (h, "ph")):
        call("mark_processing", p_gen_id=gen, p_replicate_id=pid)
    call("record_prediction", p_gen_id=a, p_replicate_id="pa", p_status="succeeded", p_output_url="https://x/a.mp4",
         p_event_id="ev-a", p_started_at="2026-01-01T00:00:30Z", p_completed_at="2026-01-01T00:02:00Z")
    call("record_prediction", p_gen_id=b, p_replicate_id="pb", p_status="succeeded", p_output_url="https://x/b.mp4")
    call("record_prediction", p_gen_id=c, p_replicate_id="pc", p_status="failed", p_error="boom", p_event_id="ev-c")
    call("fail_generation", p_gen_id=d, p_error="too long", p_error_code="timed_out", p_settled_by="sweep")
    call("cancel_generation", p_user_id=user, p_gen_id=e)
    call("fail_generation", p_gen_id=f, p_error="down", p_error_code="provider_unavailable", p_settled_by="create")
    call("record_prediction", p_gen_id=h, p_replicate_id="ph", p_status="succeeded", p_event_id="ev-h")
    call("record_video_copy_failure", p_gen_id=h, p_error="gone", p_give_up=True)
    call("goodwill_refund", p_gen_id=h, p_reason="video lost", p_actor="ops")
    _timeline(db, a, took=120, queued=30)
    _timeline(db, b, took=400, queued=90)
    _timeline(db, h, took=60)
    return {"user": user, "ids": dict(zip("abcdefgh", (a, b, c, d, e, f, g, h)))}


def test_each_generation_records_what_settled_it_and_when_replicate_ran_it(db, history):
    ids = history["ids"]
    rows = dict(db.execute("select id::text, settled_by from public.generations").fetchall())
    assert {k: rows[v] for k, v in ids.items()} == {
        "a": "webhook", "b": "status_poll", "c": "webhook", "d": "sweep", "e": "cancel", "f": "create",
        "g": None, "h": "webhook"}
    started, finished = db.execute("select started_at, provider_completed_at from public.generations where id = %s",
                                   (ids["a"],)).fetchone()
    assert finished.isoformat() == "2026-01-01T00:02:00+00:00"
    assert started is not None


def test_operator_metrics_add_up_on_a_known_history(backend, history):
    data = backend.call("operator_metrics")
    big, small = data["groups"]  # ordered by model: t2v-1.3B < t2v-14B
    assert (small["model"], big["model"]) == ("t2v-14B", "t2v-1.3B")
    assert {s: small[s] for s in metrics.STATUSES} == {
        "queued": 0, "processing": 1, "succeeded": 2, "failed": 3, "canceled": 1}  # G; A,B; C,D,F; E
    assert {s: small[f"settled_{s}"] for s in metrics.SETTLED_BY} == {
        "webhook": 2, "status_poll": 1, "sweep": 1, "cancel": 1, "create": 1}     # A,C; B; D; E; F
    assert small["provider_refusals"] == 1                                       # F
    # completion of A (120 s) and B (400 s): le 30,60 -> 0; le 120,180,300 -> 1; le 600.. -> 2
    assert small["completion_buckets"] == [0, 0, 1, 1, 1, 2, 2, 2]
    assert small["completion_seconds_sum"] == 520                               # 120 + 400
    assert (small["queue_seconds_sum"], small["queue_count"]) == (120, 2)        # 30 + 90, two known starts
    assert (big["succeeded"], big["videos_lost"], big["completion_buckets"][1]) == (1, 1, 1)  # H: 60 s <= 60
    refunds = {r["model"]: r for r in data["refunds"]}
    assert (refunds["t2v-14B"]["refunds"], refunds["t2v-14B"]["refunded_credits"]) == (4, 40)  # C,D,E,F x 10
    assert (refunds["t2v-1.3B"]["goodwill_refunds"], refunds["t2v-1.3B"]["goodwill_credits"]) == (1, 10)
    assert data["active"] == [{"model": "t2v-14B", "resolution": "480p", "active": 1}]  # G
    assert data["ledger_discrepancies"] == 0
    assert [f["error_code"] for f in data["top_failures"]] == ["provider_failed", "provider_unavailable", "timed_out"]


def test_the_seed_metrics_on_the_known_history(backend, history):
    seed = metrics.seed_metrics(backend.call("operator_metrics"))["metrics"]
    # success: A, B, H of 6 ended by the service (A B H + C D F; E was the user's cancel) = 0.5
    assert seed["success_rate"] == {"value": 0.5, "target": 0.95, "met": False}
    # completion: (120 + 400 + 60) / 3 = 193.3 s, under 300 s
    assert seed["avg_completion_seconds"]["value"] == pytest.approx(580 / 3)
    assert seed["avg_completion_seconds"]["met"] is True
    # webhook: A, C, H by webhook of A, B, C, D, H (E canceled by its user, F refused at create) = 3/5
    assert seed["webhook_delivery_rate"]["value"] == pytest.approx(0.6)
    assert seed["credit_accuracy"] == {"value": 1.0, "target": 1.0, "met": True}


def _samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_prometheus_text_of_the_known_history(backend, history):
    text = metrics.prometheus(backend.call("operator_metrics"))
    s = _samples(text)
    k = 'model="t2v-14B",resolution="480p"'
    assert s[f'wan_generations{{{k},status="failed"}}'] == 3
    assert s[f'wan_generations{{{k},status="processing"}}'] == 1
    assert s[f'wan_generations_settled_total{{{k},settled_by="status_poll"}}'] == 1
    assert s[f'wan_generation_completion_seconds_bucket{{{k},le="120"}}'] == 1
    assert s[f'wan_generation_completion_seconds_bucket{{{k},le="+Inf"}}'] == 2
    assert s[f'wan_generation_completion_seconds_sum{{{k}}}'] == 520
    assert s[f'wan_generation_queue_seconds_sum{{{k}}}'] == 120
    assert s[f'wan_refunds_total{{{k}}}'] == 4
    assert s[f'wan_provider_refusals_total{{{k}}}'] == 1
    assert s[f'wan_active_generations{{{k}}}'] == 1
    assert s['wan_videos_lost_total{model="t2v-1.3B",resolution="480p"}'] == 1
    assert s["wan_webhook_delivery_ratio"] == 0.6
    assert s["wan_ledger_discrepancies"] == 0
    # every family is declared once, with a type Prometheus knows
    types = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)
    assert len(types) == len({n for n, _ in types}) and {t for _, t in types} <= {"counter", "gauge", "histogram", "summary"}


def test_a_broken_ledger_shows_in_the_discrepancy_gauge(db, backend):
    user = make_user(db)
    db.execute("update public.profiles set credits = credits + 5 where id = %s", (user,))  # money from nowhere
    assert backend.call("operator_metrics")["ledger_discrepancies"] == 1
    db.execute("update public.profiles set credits = credits - 5 where id = %s", (user,))  # put the books right


def test_metrics_are_404_without_a_token_setting_and_401_with_a_wrong_token(stack, api):
    assert_error(api.http.get("/metrics"), 404, "not_found")
    stack.services.settings = stack.services.settings.model_copy(update={"metrics_token": "m3tr1cs-token"})
    assert_error(api.http.get("/metrics"), 401, "unauthorized")
    assert_error(api.http.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
    assert_error(api.http.get("/metrics", headers={"Authorization": "Basic m3tr1cs-token"}), 401, "unauthorized")
    user_token = api.token()  # a user's access token is no metrics token
    assert_error(api.http.get("/metrics", headers=api.auth(user_token)), 401, "unauthorized")
    ok = api.http.get("/metrics", headers={"Authorization": "Bearer m3tr1cs-token"})
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert _samples(ok.text)["wan_ledger_discrepancies"] == 0


def test_a_webhook_and_a_status_poll_record_what_settled_them_over_http(stack, api):
    emulator = stack.emulator
    token, by_webhook, pid = api.start_generation()
    emulator.finish(pid, "succeeded")
    wait_for(lambda: api.status(token, by_webhook).json()["terminal"])
    token2, by_poll, pid2 = api.start_generation()
    emulator.set_status(pid2, "failed", error="emulated failure")  # no webhook: only a poll can learn it
    with psycopg.connect(stack.settings.database_url, autocommit=True) as conn:  # the owner: test setup
        conn.execute("update public.generations set last_event_at = now() - interval '1 minute' where id = %s",
                     (by_poll,))
    assert api.status(token2, by_poll).json()["status"] == "failed"
    got = {g: stack.services.backend.call("generation_by_id", p_gen_id=g)["settled_by"] for g in (by_webhook, by_poll)}
    assert got == {by_webhook: "webhook", by_poll: "status_poll"}
    # Replicate's own completed_at, from the webhook's prediction, is kept beside ours
    with psycopg.connect(stack.settings.database_url) as conn:
        theirs = conn.execute("select provider_completed_at from public.generations where id = %s",
                              (by_webhook,)).fetchone()[0]
    assert theirs.isoformat().replace("+00:00", "Z")[:19] == emulator.predictions[pid].data["completed_at"][:19]


def test_a_prediction_carries_replicate_run_times_when_they_are_times():
    from shared.replicate_provider import parse_prediction

    p = parse_prediction({"id": "x", "status": "processing", "started_at": "2026-01-01T00:00:30.5Z",
                          "completed_at": None})
    assert (p.started_at, p.completed_at) == ("2026-01-01T00:00:30.5Z", None)
    assert parse_prediction({"id": "x", "status": "processing", "started_at": "soon"}).started_at is None
    assert parse_prediction({"id": "x", "status": "processing", "started_at": 12}).started_at is None


def test_purchase_metrics_add_up_on_a_known_history(stack, api):
    """Purchases by pack, through the real checkout, webhook and Stripe emulator:

    user A (100 at sign-up)
      S1 credits-100 (100 credits, 500 c): paid -> +100; refund 200 c: 100*200/500 = 40 taken back  (reversed)
      S2 credits-100: paid -> +100; dispute 500 c: 100 taken back; dispute won: 100 given back  (credited)
      S3 credits-500: left open; S4 credits-100: expired
    user B (100 at sign-up)
      S5 credits-100: paid -> 200; the operator deducts 150 -> 50; full refund: 100 owed, 50 taken,
         50 unrecovered  (reversed)
    credits-100/usd: credited 1, expired 1, reversed 2; sold 3 x 100 credits = 300 for 3 x 500 c = 1500;
      reversal rows 1 (S1) + 2 (S2) + 1 (S5) = 4; taken back net 40 + (100 - 100) + 50 = 90; unrecovered 50
    credits-500/usd: open 1, nothing sold
    """
    stripe = stack.stripe

    def checkout(token, pack):
        r = api.http.post("/checkout", json={"pack_id": pack}, headers=api.auth(token))
        assert r.status_code == 201, r.text
        return r.json()["session_id"]

    _, a = api.signup()
    s1, s2, _s3, s4 = checkout(a, "credits-100"), checkout(a, "credits-100"), checkout(a, "credits-500"), \
        checkout(a, "credits-100")
    stripe.pay(s1)
    stripe.refund(s1, 200)
    stripe.pay(s2)
    stripe.dispute(s2)
    stripe.close_dispute(s2, "won")
    stripe.expire(s4)
    b_id, b = api.signup()
    s5 = checkout(b, "credits-100")
    stripe.pay(s5)
    stack.services.backend.call("adjust_credits", p_user_id=b_id, p_amount=-150, p_reason="test spend",
                                p_actor="test")
    stripe.refund(s5)
    assert api.balance(a) == 100 + 100 - 40 + 100 and api.balance(b) == 0

    by_pack = {p["pack_id"]: p for p in stack.services.backend.call("operator_metrics")["purchases"]}
    assert by_pack["credits-100"] == {
        "pack_id": "credits-100", "currency": "usd", "open": 0, "paid": 0, "credited": 1, "expired": 1,
        "failed": 0, "reversed": 2, "credits_sold": 300, "amount_sold": 1500, "reversals": 4,
        "credits_taken_back": 90, "unrecovered_credits": 50}
    assert (by_pack["credits-500"]["open"], by_pack["credits-500"]["credits_sold"]) == (1, 0)

    text = metrics.prometheus(stack.services.backend.call("operator_metrics"))
    assert 'wan_purchases{pack_id="credits-100",currency="usd",status="reversed"} 2' in text
    assert 'wan_purchased_credits_total{pack_id="credits-100",currency="usd"} 300' in text
    assert 'wan_purchase_unrecovered_credits{pack_id="credits-100",currency="usd"} 50' in text
    assert 'wan_purchase_credits_taken_back{pack_id="credits-100",currency="usd"} 90' in text


def test_a_scrape_reads_the_sweeps_snapshot_and_the_live_in_flight_count(db, backend, credits, stack, api):
    """GET /metrics costs two indexed statements: the snapshot the sweep took, and the in-flight count."""
    from shared.sweep import sweep

    stack.services.settings = stack.services.settings.model_copy(update={"metrics_token": "m3tr1cs-token"})
    scrape = lambda: _samples(api.http.get("/metrics", headers={"Authorization": "Bearer m3tr1cs-token"}).text)  # noqa: E731
    user = make_user(db)
    done = _create(credits, user)
    backend.call("fail_generation", p_gen_id=done, p_error="x", p_error_code="provider_failed")
    first = scrape()  # no snapshot yet: this one scrape takes it
    assert db.execute("select count(*) from public.metrics_snapshots").fetchone()[0] == 1
    assert first['wan_generations{model="t2v-14B",resolution="480p",status="failed"}'] == 1
    _create(credits, user)  # in flight now, after the snapshot
    second = scrape()
    assert second['wan_generations{model="t2v-14B",resolution="480p",status="queued"}'] == 0  # the snapshot's
    assert second['wan_active_generations{model="t2v-14B",resolution="480p"}'] == 1          # live
    assert db.execute("select count(*) from public.metrics_snapshots").fetchone()[0] == 1    # nothing recomputed
    db.execute("update public.metrics_snapshots set taken_at = taken_at - interval '2 minutes'")
    sweep(stack.services)  # older than a minute: the sweep refreshes it
    assert scrape()['wan_generations{model="t2v-14B",resolution="480p",status="queued"}'] == 1
    assert scrape()["wan_metrics_snapshot_age_seconds"] < 60


def test_overlapping_sweeps_take_one_snapshot(db, backend):
    from tests.support import run_at_once

    results = run_at_once(8, lambda i: backend.call("take_metrics_snapshot", p_min_age_seconds=60))
    assert [r["taken"] for r in results].count(True) == 1, results
    assert db.execute("select count(*) from public.metrics_snapshots").fetchone()[0] == 1
