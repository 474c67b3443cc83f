"""The operator's console API (/admin/, CONTRACT §5): who may call it, what each action writes (one
ledger row and one audit row, or nothing), the block, the goodwill refund under concurrency, the
analytics on a known history, and the CLI commands that share shared/admin.py."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from fastapi.routing import APIRoute

from functions import account
from functions.admin import PAGE_ROUTES
from shared.settings import get_settings
from tests.support import assert_error, run_at_once, wait_for
from wan_local import cli

ADMIN_ROUTES = [(method, route.path) for route in account.router().routes
                if isinstance(route, APIRoute) and route.path.startswith("/admin") and route.path not in PAGE_ROUTES
                for method in sorted(route.methods)]


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


@pytest.fixture
def admin(api):
    body = api.http.post("/dev/signup", json={"email": "ops@example.com", "admin": True}).json()
    return body["user_id"], body["access_token"]


def _audit(db, action: str | None = None) -> list[tuple]:
    return db.execute("select actor, action, user_id::text, generation_id::text, amount, reason from public.admin_audit "
                      "where %(a)s::text is null or action = %(a)s order by id", {"a": action}).fetchall()


# --- who may call it ---------------------------------------------------------------------------------

def test_the_page_routes_are_the_only_admin_routes_without_the_check():
    # Every other /admin/ route needs the admin dependency, and is in ADMIN_ROUTES below (held to a 403
    # for non-admins over HTTP): a new route cannot be forgotten.
    from shared.app import _admin_user, _needs

    routes = [r for r in account.router().routes if isinstance(r, APIRoute) and r.path.startswith("/admin")]
    assert {r.path for r in routes if not _needs(r.dependant, _admin_user)} == PAGE_ROUTES
    assert len(ADMIN_ROUTES) == len(routes) - len(PAGE_ROUTES) == 12


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES, ids=[f"{m} {p}" for m, p in ADMIN_ROUTES])
def test_every_admin_route_refuses_anyone_but_an_admin(api, admin, method, path):
    url = _fill(path)
    body = {"json": {}} if method == "POST" else {}
    assert_error(api.http.request(method, url, **body), 401, "unauthorized")
    user_token = api.token()
    assert_error(api.http.request(method, url, headers=api.auth(user_token), **body), 403, "forbidden")
    # An admin's own API key does not act as an admin either.
    key = api.http.post("/api-keys", json={"name": "ops"}, headers=api.auth(admin[1])).json()["key"]
    assert_error(api.http.request(method, url, headers=api.auth(key), **body), 403, "forbidden")


def test_the_console_page_needs_no_token_and_holds_no_secret(api):
    page = api.http.get("/admin/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    script = api.http.get("/admin/assets/admin.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert api.stack.settings.supabase_jwt_secret not in page.text + script.text
    assert api.http.get("/admin/assets/../dev.py").status_code == 404


def test_an_admin_reads_the_overview_the_cli_prints(api, admin, db_url, monkeypatch, capsys):
    api.text_to_video(api.token())  # one generation in flight
    r = api.http.get("/admin/stats", params={"since": "24h"}, headers=api.auth(admin[1]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["in_flight"] == 1 and body["generations"] == 1 and body["ledger_discrepancies"] == 0
    assert set(body["metrics"]) == {"success_rate", "avg_completion_seconds", "webhook_delivery_rate", "credit_accuracy"}
    monkeypatch.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        assert cli.main(["stats", "--json"]) == 0
    finally:
        get_settings.cache_clear()
    import json
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(printed) == set(body)  # one implementation: the same document
    assert_error(api.http.get("/admin/stats", params={"since": "yesterday"}, headers=api.auth(admin[1])),
                 422, "invalid_request")


# --- credits -----------------------------------------------------------------------------------------

def test_a_grant_writes_one_adjustment_with_the_reason_and_an_audit_row(api, admin, db):
    user_id, _ = api.signup()
    r = api.http.post(f"/admin/users/{user_id}/credits", json={"amount": 50, "reason": "outage apology"},
                      headers=api.auth(admin[1]))
    assert r.status_code == 200, r.text
    assert r.json()["balance_after"] == 150  # 100 (signup) + 50
    rows = db.execute("select amount, description, actor from public.credit_transactions "
                      "where user_id = %s and type = 'adjustment'", (user_id,)).fetchall()
    assert rows == [(50, "outage apology", "ops@example.com")]
    assert _audit(db) == [("ops@example.com", "credits.adjust", user_id, None, 50, "outage apology")]
    detail = api.http.get(f"/admin/users/{user_id}", headers=api.auth(admin[1])).json()
    assert detail["balance"] == 150 and detail["transactions"][0]["actor"] == "ops@example.com"


@pytest.mark.parametrize("body", [
    pytest.param({"amount": 0, "reason": "x"}, id="zero"),
    pytest.param({"amount": 5}, id="no_reason"),
    pytest.param({"amount": 5, "reason": "   "}, id="blank_reason"),
    pytest.param({"amount": 5, "reason": "x", "by": "me"}, id="unknown_field"),
])
def test_an_adjustment_without_amount_or_reason_is_refused_and_writes_nothing(api, admin, db, body):
    user_id, _ = api.signup()
    r = api.http.post(f"/admin/users/{user_id}/credits", json=body, headers=api.auth(admin[1]))
    assert_error(r, 422, "invalid_request")
    assert db.execute("select count(*) from public.credit_transactions where user_id = %s", (user_id,)).fetchone()[0] == 1
    assert _audit(db) == []


def test_a_deduction_below_zero_is_a_conflict_and_writes_nothing(api, admin, db):
    user_id, _ = api.signup()
    r = api.http.post(f"/admin/users/{user_id}/credits", json={"amount": -101, "reason": "abuse"},
                      headers=api.auth(admin[1]))
    assert_error(r, 409, "invalid_state")  # 100 - 101 < 0
    assert db.execute("select credits from public.profiles where id = %s", (user_id,)).fetchone()[0] == 100
    assert _audit(db) == []
    ok = api.http.post(f"/admin/users/{user_id}/credits", json={"amount": -100, "reason": "abuse"},
                       headers=api.auth(admin[1]))
    assert ok.status_code == 200 and ok.json()["balance_after"] == 0  # 100 - 100: down to zero is fine
    assert_error(api.http.post(f"/admin/users/{uuid.uuid4()}/credits", json={"amount": 5, "reason": "x"},
                               headers=api.auth(admin[1])), 404, "not_found")


# --- the block ---------------------------------------------------------------------------------------

def test_a_blocked_user_cannot_create_retry_or_buy_but_reads_and_in_flight_work_finish(api, admin, db):
    user_id, token = api.signup()
    key = api.http.post("/api-keys", json={"name": "bot"}, headers=api.auth(token)).json()["key"]
    _, running, running_pid = api.start_generation(token)                      # 100 - 10 = 90
    failed = api.text_to_video(token).json()["generation_id"]                  # 90 - 10 = 80
    api.stack.emulator.finish(api.prediction_of(failed), "failed", error="boom")
    wait_for(lambda: api.status(token, failed).json()["refunded"])             # 80 + 10 = 90

    r = api.http.post(f"/admin/users/{user_id}/block", json={"reason": "chargeback fraud"}, headers=api.auth(admin[1]))
    assert r.status_code == 200 and r.json()["blocked"] is True and r.json()["blocked_reason"] == "chargeback fraud"

    assert_error(api.text_to_video(token), 403, "account_blocked")
    assert_error(api.text_to_video(key), 403, "account_blocked")  # their API keys too
    assert_error(api.text_to_video(token, key="same-key-again"), 403, "account_blocked")
    assert_error(api.http.post("/retry", json={"generation_id": failed}, headers=api.auth(token)), 403, "account_blocked")
    assert_error(api.http.post("/checkout", json={"pack_id": "credits-500"}, headers=api.auth(token)),
                 403, "account_blocked")
    assert db.execute("select count(*) from public.purchases where user_id = %s", (user_id,)).fetchone()[0] == 0
    # reads still work, and nothing was charged
    assert api.balance(token) == 90
    assert api.http.get("/generations", headers=api.auth(token)).status_code == 200
    assert api.status(token, running).status_code == 200
    assert db.execute("select count(*) from public.generations where user_id = %s", (user_id,)).fetchone()[0] == 2
    # the generation in flight ends as usual: failed, and refunded
    api.stack.emulator.finish(running_pid, "failed", error="the GPU fell over")
    wait_for(lambda: api.status(token, running).json()["refunded"])
    assert api.balance(token) == 100                                           # 90 + 10

    r = api.http.post(f"/admin/users/{user_id}/unblock", headers=api.auth(admin[1]))
    assert r.status_code == 200 and r.json()["blocked"] is False
    assert api.text_to_video(token).status_code == 202                         # 100 - 10 = 90
    assert api.balance(token) == 90
    assert [a[1] for a in _audit(db)] == ["user.block", "user.unblock"]
    assert _audit(db, "user.block")[0][5] == "chargeback fraud"


def test_the_block_is_enforced_by_the_database_itself(api, admin, db):
    from shared.errors import AccountBlocked

    user_id, _ = api.signup()
    api.http.post(f"/admin/users/{user_id}/block", json={"reason": "r"}, headers=api.auth(admin[1]))
    with pytest.raises(AccountBlocked):  # the database function itself refuses, whatever calls it
        api.stack.services.backend.call("create_generation", p_user_id=user_id, p_kind="text-to-video",
                                        p_model="t2v-14B", p_resolution="480p", p_prompt="p", p_cost=10, p_max_active=3)
    assert db.execute("select credits from public.profiles where id = %s", (user_id,)).fetchone()[0] == 100
    assert db.execute("select public.create_block_reason(%s)", (user_id,)).fetchone()[0] == "r"


def test_a_block_needs_a_reason(api, admin):
    user_id, _ = api.signup()
    assert_error(api.http.post(f"/admin/users/{user_id}/block", json={}, headers=api.auth(admin[1])), 422, "invalid_request")
    assert_error(api.http.post(f"/admin/users/{uuid.uuid4()}/block", json={"reason": "x"}, headers=api.auth(admin[1])),
                 404, "not_found")


# --- goodwill refunds --------------------------------------------------------------------------------

def _lost_video(api) -> tuple[str, str]:
    token, gen, pid = api.start_generation()
    api.stack.emulator.behaviour.deliver_webhooks = True
    backend = api.stack.services.backend
    backend.call("record_prediction", p_gen_id=gen, p_replicate_id=pid, p_status="succeeded")
    backend.call("record_video_copy_failure", p_gen_id=gen, p_error="expired", p_give_up=True)
    return token, gen


def test_a_goodwill_refund_happens_once_under_concurrency(api, admin, db):
    token, gen = _lost_video(api)                                              # 100 - 10 = 90
    results = run_at_once(6, lambda i: api.http.post(f"/admin/generations/{gen}/refund", json={"reason": "video lost"},
                                                     headers=api.auth(admin[1])))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 409, 409, 409, 409, 409], [r.text for r in results]
    assert api.balance(token) == 100                                           # 90 + 10, once
    assert [(a[1], a[3], a[4]) for a in _audit(db)] == [("generation.refund", gen, 10)]


def test_a_goodwill_refund_of_a_kept_video_is_refused(api, admin):
    token, gen, pid = api.start_generation()
    api.stack.emulator.finish(pid)
    wait_for(lambda: api.status(token, gen).json()["status"] == "succeeded")
    assert_error(api.http.post(f"/admin/generations/{gen}/refund", json={"reason": "x"}, headers=api.auth(admin[1])),
                 409, "invalid_state")


# --- generations: stuck, failing, settle now ---------------------------------------------------------

def test_stuck_generations_are_listed_and_settled_now_by_asking_replicate(api, admin, db):
    api.stack.emulator.behaviour.deliver_webhooks = False  # the webhook is lost
    token = api.token()
    gen = api.text_to_video(token).json()["generation_id"]
    pid = api.prediction_of(gen)
    db.execute("update public.generations set status = 'processing', last_event_at = now() - interval '1 hour' "
               "where id = %s and status in ('queued', 'processing')", (gen,))
    stuck = api.http.get("/admin/generations", params={"list": "stuck"}, headers=api.auth(admin[1])).json()["items"]
    assert [(g["generation_id"], g["replicate_id"]) for g in stuck] == [(gen, pid)]
    api.stack.emulator.finish(pid, "failed", error="out of memory")            # no webhook arrives
    r = api.http.post(f"/admin/generations/{gen}/settle", headers=api.auth(admin[1]))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "failed" and r.json()["refunded"] is True
    assert api.balance(token) == 100                                           # 100 - 10 + 10
    failing = api.http.get("/admin/generations", params={"list": "failing"}, headers=api.auth(admin[1])).json()["items"]
    assert failing[0]["generation_id"] == gen and failing[0]["settled_by"] == "sweep"
    assert_error(api.http.post(f"/admin/generations/{gen}/settle", headers=api.auth(admin[1])), 409, "invalid_state")
    assert [a[1] for a in _audit(db)] == ["generation.settle"]


# --- users -------------------------------------------------------------------------------------------

def test_users_are_found_by_email_prefix_or_id_and_shown_in_full_without_secrets(api, admin, db):
    user_id, token = api.signup("grace.hopper@example.com")
    api.signup("grace_other@example.com")
    key = api.http.post("/api-keys", json={"name": "ci"}, headers=api.auth(token)).json()["key"]
    found = api.http.get("/admin/users", params={"q": "GRACE."}, headers=api.auth(admin[1])).json()["items"]
    assert [u["email"] for u in found] == ["grace.hopper@example.com"]  # '.' and '_' are literal, not patterns
    assert api.http.get("/admin/users", params={"q": "%"}, headers=api.auth(admin[1])).json()["items"] == []
    newest = api.http.get("/admin/users", params={"q": ""}, headers=api.auth(admin[1])).json()["items"]
    assert [u["email"] for u in newest][:2] == ["grace_other@example.com", "grace.hopper@example.com"]
    assert [u["user_id"] for u in api.http.get("/admin/users", params={"q": user_id},
                                               headers=api.auth(admin[1])).json()["items"]] == [user_id]
    detail = api.http.get(f"/admin/users/{user_id}", headers=api.auth(admin[1]))
    assert detail.status_code == 200
    body = detail.json()
    assert body["api_keys"][0]["name"] == "ci" and key not in detail.text and "secret_hash" not in detail.text
    assert body["blocked"] is False and body["purchases"] == [] and body["balance"] == 100
    assert {r["bucket"] for r in body["rate_limits"]} == {"request"}


# --- the audit ---------------------------------------------------------------------------------------

def test_the_audit_is_append_only_and_exported_as_csv(api, admin, db):
    user_id, _ = api.signup()
    api.http.post(f"/admin/users/{user_id}/credits", json={"amount": 5, "reason": "=HYPERLINK(\"x\")"},
                  headers=api.auth(admin[1]))
    api.http.post(f"/admin/users/{user_id}/block", json={"reason": "spam"}, headers=api.auth(admin[1]))
    page = api.http.get("/admin/audit", headers=api.auth(admin[1])).json()
    assert [i["action"] for i in page["items"]] == ["user.block", "credits.adjust"] and page["next_cursor"] is None
    exported = api.http.get("/admin/audit.csv", headers=api.auth(admin[1]))
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["action"], r["user_id"], r["amount"], r["actor"]) for r in rows] == [
        ("user.block", user_id, "", "ops@example.com"), ("credits.adjust", user_id, "5", "ops@example.com")]
    assert rows[1]["reason"] == "'=HYPERLINK(\"x\")"  # a formula is exported as text
    for sql in ("update public.admin_audit set reason = 'x'", "delete from public.admin_audit",
                "truncate public.admin_audit"):
        with pytest.raises(psycopg.Error, match="append-only"):
            db.execute(sql)
    assert len(_audit(db)) == 2


# --- the admin role ----------------------------------------------------------------------------------

def test_wan_api_admin_grant_and_revoke_set_the_role_in_the_next_token(api, db_url, db, monkeypatch, capsys):
    user_id, before = api.signup("lead@example.com")
    assert api.http.get("/admin/stats", headers=api.auth(before)).status_code == 403
    monkeypatch.setenv("DATABASE_URL", db_url)
    for var in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()
    try:
        assert cli.main(["admin", "grant", "lead@example.com", "--reason", "new on-call", "--by", "cto"]) == 0
        after = api.token("lead@example.com")  # signing in again: the role is in the new token
        assert api.http.get("/admin/stats", headers=api.auth(after)).status_code == 200
        assert cli.main(["admin", "revoke", "lead@example.com", "--by", "cto"]) == 0
        assert api.http.get("/admin/stats", headers=api.auth(api.token("lead@example.com"))).status_code == 403
        assert cli.main(["admin", "grant", "nobody@example.com"]) == 1
    finally:
        get_settings.cache_clear()
    assert "is now an admin" in capsys.readouterr().out
    assert [(a[0], a[1], a[2], a[5]) for a in _audit(db)] == [
        ("cto", "admin.grant", user_id, "new on-call"), ("cto", "admin.revoke", user_id, None)]


# --- analytics on a known history --------------------------------------------------------------------

def _at(db, gen: str, created: datetime, took: float | None = None) -> None:
    """Move one generation (and its ledger rows) to `created`; a finished one took `took` seconds."""
    db.execute("update public.generations set created_at = %(c)s, "
               "completed_at = case when completed_at is null then null else %(c)s + make_interval(secs => %(t)s) end "
               "where id = %(g)s", {"c": created, "t": took or 0, "g": gen})
    db.execute("update public.credit_transactions set created_at = %s where generation_id = %s", (created, gen))


def test_analytics_figures_on_a_known_history_live_and_rolled_up(api, admin, db):
    from shared.sweep import sweep

    started = datetime.now(timezone.utc)
    today = started.replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    # Yesterday's hours, both other than this one (today's in-flight generation is counted at it):
    # fixed hours failed the test whenever it ran in one of them.
    busy, quiet = (started.hour + 3) % 24, (started.hour + 8) % 24
    token = api.token()                                          # signup: +100 (today)
    gens = []
    for status in ("succeeded", "succeeded", "failed"):
        gen = api.text_to_video(token, resolution="720p").json()["generation_id"]   # -20 each
        api.stack.emulator.finish(api.prediction_of(gen), status, error="boom" if status == "failed" else None)
        gens.append(gen)
    wait_for(lambda: all(api.status(token, g).json()["terminal"] for g in gens))
    wait_for(lambda: api.status(token, gens[2]).json()["refunded"])                  # +20
    _at(db, gens[0], yesterday + timedelta(hours=busy), took=60)  # busy:00, 60 s -> bin [60, 120)
    _at(db, gens[1], yesterday + timedelta(hours=busy, minutes=30), took=400)  # busy:30 -> bin [300, 600)
    _at(db, gens[2], yesterday + timedelta(hours=quiet))          # quiet:00, failed and refunded
    in_flight = api.text_to_video(token).json()["generation_id"]  # today, 480p: -10, still running

    def check(body, rolled_up):
        day, now = body["days"][-2], body["days"][-1]
        assert day["date"] == yesterday.date().isoformat() and day["rolled_up"] is rolled_up
        # yesterday: 3 created (2 succeeded, 1 failed); spent 3 x 20 = 60; refunded the failed one's 20
        assert (day["generations"], day["succeeded"], day["failed"], day["canceled"]) == (3, 2, 1, 0)
        assert (day["credits_spent"], day["credits_refunded"], day["credits_sold"]) == (60, 20, 0)
        assert day["completion_seconds_sum"] == pytest.approx(460)   # 60 + 400
        # today: the one in flight, 10 spent; nothing sold (the signup bonus is no sale)
        assert (now["generations"], now["in_flight"], now["credits_spent"]) == (1, 1, 10)
        assert now["rolled_up"] is False
        assert body["models"] == [
            {"model": "t2v-14B", "resolution": "480p", "kind": "text-to-video", "generations": 1, "succeeded": 0,
             "failed": 0, "canceled": 0},
            {"model": "t2v-14B", "resolution": "720p", "kind": "text-to-video", "generations": 3, "succeeded": 2,
             "failed": 1, "canceled": 0}]
        assert [(b["from_seconds"], b["count"]) for b in body["completion"] if b["count"]] == [(60, 1), (300, 1)]
        assert body["failure_reasons"][0]["count"] == 1
        assert body["hours"][busy] == 2 and body["hours"][quiet] == 1 and body["hours"][started.hour] == 1
        assert body["busiest_hours"][0] == {"hour": busy, "generations": 2}
        assert sum(body["hours"]) == 4                                # 3 yesterday + 1 today

    check(api.http.get("/admin/analytics", params={"days": 7}, headers=api.auth(admin[1])).json(), rolled_up=False)
    counts = sweep(api.stack.services)
    assert counts["analytics_days"] == 1                              # yesterday (today is never stored)
    from shared.sweep import ANALYTICS_SETTLE_MARGIN_SECONDS
    # final once every generation of the day had to end: DEADLINE_SECONDS and a margin after midnight
    settled_at = today + timedelta(seconds=api.stack.settings.deadline_seconds + ANALYTICS_SETTLE_MARGIN_SECONDS)
    (final,) = db.execute("select final from public.analytics_days where day = %s", (yesterday.date(),)).fetchone()
    assert final is (datetime.now(timezone.utc) >= settled_at)
    check(api.http.get("/admin/analytics", params={"days": 7}, headers=api.auth(admin[1])).json(), rolled_up=True)
    assert in_flight
    assert_error(api.http.get("/admin/analytics", params={"days": 0}, headers=api.auth(admin[1])), 422, "invalid_request")


def test_every_admin_answer_is_the_one_the_openapi_document_types(api, admin, db):
    import json

    from wan_local import openapi
    from tests.test_openapi import CHECKED_IN, validate

    doc = json.loads(CHECKED_IN.read_text())
    assert doc == json.loads(openapi.dumps(openapi.document()))
    auth = api.auth(admin[1])
    user_id, token = api.signup("typed@example.com")
    api.http.post("/api-keys", json={"name": "k"}, headers=api.auth(token))
    gen = api.text_to_video(token).json()["generation_id"]
    http = api.http
    validate(doc, "get", "/admin/stats", http.get("/admin/stats", headers=auth))
    validate(doc, "get", "/admin/analytics", http.get("/admin/analytics", params={"days": 3}, headers=auth))
    validate(doc, "get", "/admin/users", http.get("/admin/users", params={"q": "typed"}, headers=auth))
    validate(doc, "post", "/admin/users/{user_id}/credits", http.post(f"/admin/users/{user_id}/credits",
                                                                      json={"amount": 5, "reason": "r"}, headers=auth))
    validate(doc, "post", "/admin/users/{user_id}/credits", http.post(f"/admin/users/{user_id}/credits",
                                                                      json={"amount": -500, "reason": "r"}, headers=auth))
    validate(doc, "post", "/admin/users/{user_id}/block", http.post(f"/admin/users/{user_id}/block",
                                                                    json={"reason": "r"}, headers=auth))
    detail = validate(doc, "get", "/admin/users/{user_id}", http.get(f"/admin/users/{user_id}", headers=auth))
    assert detail["generations"][0]["generation_id"] == gen and detail["blocked"] is True
    validate(doc, "post", "/admin/users/{user_id}/unblock", http.post(f"/admin/users/{user_id}/unblock", headers=auth))
    validate(doc, "get", "/admin/generations", http.get("/admin/generations", params={"list": "failing"}, headers=auth))
    validate(doc, "post", "/admin/generations/{generation_id}/refund",
             http.post(f"/admin/generations/{gen}/refund", json={"reason": "r"}, headers=auth))   # 409: not lost
    validate(doc, "post", "/admin/generations/{generation_id}/settle",
             http.post(f"/admin/generations/{uuid.uuid4()}/settle", headers=auth))                # 404
    audit = validate(doc, "get", "/admin/audit", http.get("/admin/audit", headers=auth))
    assert [a["action"] for a in audit["items"]] == ["user.unblock", "user.block", "credits.adjust"]
    assert http.get("/admin/users", params={"q": "x"}, headers=auth).status_code == 200
    assert_error(http.get("/admin/users/not-a-uuid", headers=auth), 422, "invalid_request")


def test_the_overview_reuses_its_computation_for_a_while(api, admin, monkeypatch):
    from shared import admin as admin_module

    auth = api.auth(admin[1])
    first = api.http.get("/admin/stats", params={"since": "2h"}, headers=auth).json()
    api.text_to_video(api.token())
    # within STATS_CACHE_SECONDS: the same document (the whole-table money check is not rerun per view)
    assert api.http.get("/admin/stats", params={"since": "2h"}, headers=auth).json() == first
    monkeypatch.setattr(admin_module, "STATS_CACHE_SECONDS", 0)
    assert api.http.get("/admin/stats", params={"since": "2h"}, headers=auth).json()["in_flight"] == first["in_flight"] + 1


def test_wan_api_admin_grant_in_production_goes_through_supabases_admin_api(db_url, db, monkeypatch, capsys):
    from tests.support import RecordedHttp, make_user

    user_id = str(make_user(db, email="lead@example.com"))
    gotrue = RecordedHttp()
    user = {"id": user_id, "aud": "authenticated", "email": "lead@example.com", "created_at": "2026-11-24T09:30:05Z",
            "app_metadata": {"provider": "email", "role": "admin"}, "user_metadata": {}}
    gotrue.answers[("PUT", f"/auth/v1/admin/users/{user_id}")] = (200, user)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("SUPABASE_URL", gotrue.url)
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", "sb_secret_test_key")
    get_settings.cache_clear()
    try:
        assert cli.main(["admin", "grant", "lead@example.com", "--by", "cto"]) == 0
        assert cli.main(["admin", "revoke", "lead@example.com", "--by", "cto"]) == 0
    finally:
        get_settings.cache_clear()
        gotrue.close()
    # GoTrue merges app_metadata key by key: the grant sets the role, the revoke's null removes it.
    assert [gotrue.json(i) for i in range(2)] == [{"app_metadata": {"role": "admin"}}, {"app_metadata": {"role": None}}]
    assert {r["headers"]["apikey"] for r in gotrue.requests} == {"sb_secret_test_key"}
    # the local auth stand-in was not touched: production's truth is Supabase's
    assert db.execute("select raw_app_meta_data from auth.users where id = %s", (user_id,)).fetchone() == ({},)
    assert [a[1] for a in _audit(db)] == ["admin.grant", "admin.revoke"]
