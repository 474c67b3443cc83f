"""The sweep, cancel and retry: no charge is ever stranded, whatever is lost, crashed or racing.

Time passes by moving a generation's timestamps back in the database (thresholds are the defaults:
QUEUED_TIMEOUT 600 s, STUCK_AFTER 600 s, DEADLINE 2700 s)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shared.credits import Credits, NewGeneration
from shared.db import PostgresBackend
from shared.services import Services
from shared.sweep import COUNTS, sweep
from tests.support import RecordedHttp, assert_error, run_at_once, wait_for


def age(db, gen_id, minutes: int, *, column: str = "created_at") -> None:
    """Pretend `minutes` passed: move the generation's clock back (and forget when we last heard)."""
    db.execute(f"update public.generations set {column} = {column} - make_interval(mins => %s), "
               "last_event_at = last_event_at - make_interval(mins => %s) where id = %s",
               (minutes, minutes, gen_id))


def row(db, gen_id) -> dict:
    cur = db.execute("select g.*, exists (select from public.credit_transactions t where t.generation_id = g.id "
                     "and t.type = 'refund') as refunded from public.generations g where id = %s", (gen_id,))
    return dict(zip([c.name for c in cur.description], cur.fetchone()))


def queued(credits, user_id) -> str:
    """A charged generation whose create crashed before Replicate was called (no job id)."""
    return credits.create_generation(NewGeneration(
        user_id=user_id, kind="text-to-video", model="t2v-14B", resolution="480p", prompt="p", cost=10,
        max_active=100))["generation_id"]


# --- each rule ------------------------------------------------------------------------------------

def test_a_queued_generation_that_never_got_a_job_is_failed_and_refunded_once(api, stack, db, credits):
    user_id, token = api.signup()
    gen_id = queued(credits, user_id)
    assert sweep(stack.services)["examined"] == 0  # not yet timed out
    age(db, gen_id, 11)
    counts = sweep(stack.services)
    assert (counts["queued_failed"], counts["refunded"]) == (1, 1)
    assert (row(db, gen_id)["status"], row(db, gen_id)["refunded"]) == ("failed", True)
    assert api.balance(token) == 100
    assert sweep(stack.services)["examined"] == 0


def test_a_stuck_generation_is_settled_as_its_lost_webhook_would_have(api, stack, db):
    stack.emulator.behaviour.deliver_webhooks = False
    token, gen_id, pid = api.start_generation()
    stack.emulator.set_status(pid, "succeeded")  # finished at Replicate; the webhook is lost
    age(db, gen_id, 11)
    counts = sweep(stack.services)
    assert counts["settled_succeeded"] == 1
    wait_for(lambda: row(db, gen_id)["video_path"])  # the video is copied too
    assert api.status(token, gen_id).json()["video_url"].startswith(stack.url)
    assert api.balance(token) == 90


def test_a_stuck_generation_that_failed_at_replicate_is_refunded(api, stack, db):
    stack.emulator.behaviour.deliver_webhooks = False
    token, gen_id, pid = api.start_generation()
    stack.emulator.set_status(pid, "failed", error="NSFW content detected")
    age(db, gen_id, 11)
    assert sweep(stack.services)["settled_failed"] == 1
    body = api.status(token, gen_id).json()
    # A safety refusal (issue 27): typed content_policy, the provider's words kept in the error.
    assert (body["status"], body["refunded"], body["error_code"]) == ("failed", True, "content_policy")
    assert body["error"].endswith("(NSFW content detected)")
    assert api.balance(token) == 100


def test_a_stuck_generation_still_running_is_left_running_with_fresh_news(api, stack, db):
    token, gen_id, pid = api.start_generation()
    stack.emulator.set_status(pid, "processing", logs="40%")
    age(db, gen_id, 11)
    counts = sweep(stack.services)
    assert counts["checked"] == 1 and counts["settled_succeeded"] == 0
    r = row(db, gen_id)
    assert (r["status"], r["progress"]) == ("processing", 40)
    db.execute("update public.generations set sweep_claimed_at = null where id = %s", (gen_id,))
    assert sweep(stack.services)["examined"] == 0  # it has news now


def test_past_the_deadline_it_is_canceled_at_replicate_failed_and_refunded(api, stack, db):
    token, gen_id, pid = api.start_generation()
    age(db, gen_id, 46)
    counts = sweep(stack.services)
    assert (counts["timed_out"], counts["refunded"]) == (1, 1)
    assert stack.emulator.cancels == [pid]
    r = row(db, gen_id)
    assert (r["status"], r["error_code"], r["refunded"]) == ("failed", "timeout", True)
    assert api.balance(token) == 100


def test_a_late_success_after_a_time_out_refund_changes_nothing(api, stack, db):
    token, gen_id, pid = api.start_generation()
    stack.emulator.behaviour.cancel_status = 503  # the cancel does not get through
    age(db, gen_id, 46)
    assert sweep(stack.services)["cancel_failed"] == 1
    stack.emulator.behaviour.cancel_status = None
    stack.emulator.finish(pid, "succeeded")  # Replicate finishes anyway and tells us
    body = api.status(token, gen_id).json()
    assert (body["status"], body["refunded"], body["video_url"]) == ("failed", True, None)
    assert api.balance(token) == 100


def test_a_video_copy_that_failed_is_retried_while_replicate_still_has_it(api, stack, db):
    token, gen_id, pid = api.start_generation()
    from tests.test_replicate_webhook import deliver, prediction

    saved = stack.emulator.predictions.pop(pid)  # Replicate's file is missing for now
    deliver(api, gen_id, prediction(pid, "succeeded", output=stack.emulator._output_url(pid)))
    wait_for(lambda: row(db, gen_id)["video_copy_attempts"] == 1)
    stack.emulator.predictions[pid] = saved
    age(db, gen_id, 3, column="completed_at")
    assert sweep(stack.services)["video_copied"] == 1
    assert api.status(token, gen_id).json()["video_url"].startswith(stack.url)


def test_a_video_gone_from_replicate_is_marked_lost_so_nobody_waits_forever(api, stack, db):
    token, gen_id, pid = api.start_generation()
    from tests.test_replicate_webhook import deliver, prediction

    stack.emulator.predictions.pop(pid)
    deliver(api, gen_id, prediction(pid, "succeeded", output=stack.emulator._output_url(pid)))
    wait_for(lambda: row(db, gen_id)["video_copy_attempts"] == 1)
    age(db, gen_id, 120, column="completed_at")
    assert sweep(stack.services)["video_lost"] == 1
    assert row(db, gen_id)["video_lost"] is True
    assert api.status(token, gen_id).json()["video_url"] is None
    db.execute("update public.generations set sweep_claimed_at = null where id = %s", (gen_id,))
    assert sweep(stack.services)["examined"] == 0  # never looked at again


def test_a_success_without_an_output_is_marked_lost_at_once(api, stack, db):
    from tests.test_replicate_webhook import deliver, prediction

    token, gen_id, pid = api.start_generation()
    deliver(api, gen_id, prediction(pid, "succeeded", output=None))
    wait_for(lambda: row(db, gen_id)["video_lost"])
    body = api.status(token, gen_id).json()
    assert (body["status"], body["video_url"], body["refunded"]) == ("succeeded", None, False)
    age(db, gen_id, 3, column="completed_at")
    assert sweep(stack.services)["examined"] == 0


# --- safe under overlap and failure -------------------------------------------------------------

def test_four_sweeps_at_once_refund_each_generation_once(api, stack, db, credits, db_url):
    user_id, token = api.signup()
    credits.add_credits(user_id, 100, "purchase")
    ids = [queued(credits, user_id) for _ in range(20)]
    for gen_id in ids:
        age(db, gen_id, 11)
    assert api.balance(token) == 0  # 200 - 20 * 10
    def run(i):
        services = Services(stack.settings, PostgresBackend(db_url), stack.services.provider, stack.services.storage)
        try:
            return sweep(services, batch=7)
        finally:
            services.close()

    results = run_at_once(4, run)
    total = sum(r.get("queued_failed", 0) for r in results)
    while (more := sweep(stack.services)).get("queued_failed"):
        total += more["queued_failed"]
    assert total == 20
    assert api.balance(token) == 200
    assert db.execute("select count(*) from public.credit_transactions where type = 'refund'").fetchone()[0] == 20


def test_replicate_down_during_a_sweep_changes_nothing_and_the_next_sweep_settles(api, stack, db):
    stack.emulator.behaviour.deliver_webhooks = False
    token, gen_id, pid = api.start_generation()
    stack.emulator.set_status(pid, "failed")
    age(db, gen_id, 11)
    stack.emulator.behaviour.get_status = 503
    before = row(db, gen_id)
    assert sweep(stack.services)["replicate_unreachable"] == 1
    after = row(db, gen_id)
    assert {k: after[k] for k in ("status", "progress", "refunded")} == {k: before[k] for k in ("status", "progress", "refunded")}
    stack.emulator.behaviour.get_status = None
    db.execute("update public.generations set sweep_claimed_at = now() - interval '10 minutes' where id = %s", (gen_id,))
    assert sweep(stack.services)["settled_failed"] == 1
    assert api.balance(token) == 100


def test_one_broken_generation_does_not_stop_the_others(api, stack, db, credits):
    user_id, token = api.signup()
    broken, fine = queued(credits, user_id), queued(credits, user_id)
    for gen_id in (broken, fine):
        age(db, gen_id, 11)
    db.execute(f"""create function pg_temp_break() returns trigger language plpgsql as $$
                   begin if new.id = '{broken}' then raise exception 'disk on fire'; end if; return new; end $$""")
    db.execute("create trigger break_one before update of status on public.generations "
               "for each row execute function pg_temp_break()")
    counts = sweep(stack.services)
    assert (counts["errors"], counts["queued_failed"]) == (1, 1)
    assert row(db, fine)["status"] == "failed" and row(db, broken)["status"] == "queued"
    db.execute("drop trigger break_one on public.generations")
    db.execute("update public.generations set sweep_claimed_at = null where id = %s", (broken,))
    assert sweep(stack.services)["queued_failed"] == 1
    assert api.balance(token) == 100


def test_with_10000_generations_a_sweep_examines_only_the_10_stuck_ones_through_indexes(stack, db, db_url):
    from tests.support import make_user

    user_id = make_user(db)
    db.execute("""insert into public.generations (user_id, kind, model, resolution, prompt, cost, status,
                                                  completed_at, video_path, replicate_id)
                  select %s, 'text-to-video', 't2v-14B', '480p', 'p', 10, 'succeeded',
                         now() - interval '1 day', 'videos/x.mp4', 'done-' || i
                  from generate_series(1, 9990) i""", (user_id,))
    setup = PostgresBackend(db_url, role="service_role")  # closed before the count: its scans are flushed
    stuck = [queued(Credits(setup), user_id) for _ in range(10)]
    setup.close()
    for gen_id in stuck:
        age(db, gen_id, 11)
    db.execute("analyze public.generations")  # the plans from fresh statistics, not autovacuum's timing
    # The metrics snapshot is the sweep's one deliberate whole-table pass, at most once a minute
    # (shared/metrics.py); a fresh one now leaves the sweep's rules alone to be measured.
    db.execute("select public.take_metrics_snapshot(0)")
    seq_before = _scans(db)
    backend = PostgresBackend(db_url, min_size=1, max_size=1)
    counts = sweep(Services(stack.settings, backend, stack.services.provider, stack.services.storage))
    backend.close()  # a closing session flushes its table statistics
    assert (counts["examined"], counts["queued_failed"]) == (10, 10)
    seq_after = wait_for(lambda: (s := _scans(db))[1] > seq_before[1] and s)
    assert seq_after[0] == seq_before[0], "a sweep query scanned the whole generations table"


def _scans(db) -> tuple[int, int]:
    """The table's cumulative scan counts, this session's own scans included: a backend sends its
    counts at most once a second (PG 15+), so without the forced flush the snapshot's whole-table
    passes above would land in the totals later, inside the sweep's window, on a loaded machine."""
    db.execute("select pg_stat_force_next_flush()")  # flushed as this statement's transaction ends
    db.execute("select pg_stat_clear_snapshot()")
    return db.execute("select seq_scan, idx_scan from pg_stat_user_tables "
                      "where relname = 'generations'").fetchone()


def test_wan_api_sweep_prints_its_counts_as_json_on_the_last_line(stack, db, credits, tmp_path):
    from tests.support import make_user

    gen_id = queued(credits, make_user(db))
    age(db, gen_id, 11)
    env = {**os.environ, "DATABASE_URL": stack.settings.database_url, "REPLICATE_API_TOKEN": "r8_test",
           "REPLICATE_BASE_URL": stack.emulator.base_url, "WAN_DATA_DIR": str(tmp_path),
           "SUPABASE_URL": "", "SUPABASE_SERVICE_ROLE_KEY": ""}
    done = subprocess.run([sys.executable, "-m", "wan_local.cli", "sweep"], env=env, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert (counts["examined"], counts["queued_failed"], counts["refunded"]) == (1, 1, 1)


# --- cancel ---------------------------------------------------------------------------------------

def test_cancel_stops_the_job_marks_it_canceled_and_refunds_once(api, stack):
    token, gen_id, pid = api.start_generation()
    r = api.http.post("/cancel", json={"generation_id": gen_id}, headers=api.auth(token))
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["refunded"]) == ("canceled", True)
    assert stack.emulator.cancels == [pid]
    assert_error(api.http.post("/cancel", json={"generation_id": gen_id}, headers=api.auth(token)), 409, "invalid_state")
    wait_for(lambda: any(d["event"] == "completed" and pid in d["body"] for d in stack.emulator.deliveries))
    assert api.balance(token) == 100


def test_cancel_of_a_finished_or_someone_elses_generation(api, stack):
    token, gen_id, pid = api.start_generation()
    stack.emulator.finish(pid, "succeeded")
    assert_error(api.http.post("/cancel", json={"generation_id": gen_id}, headers=api.auth(token)), 409, "invalid_state")
    other = api.token()
    _, running_id, _ = api.start_generation(token)
    assert_error(api.http.post("/cancel", json={"generation_id": running_id}, headers=api.auth(other)), 404, "not_found")
    assert_error(api.http.post("/cancel", json={"generation_id": "x"}, headers=api.auth(token)), 422, "invalid_request")
    assert api.balance(token) == 80


def test_cancel_still_refunds_when_replicate_cannot_be_reached(api, stack):
    stack.emulator.behaviour.cancel_status = 503
    token, gen_id, pid = api.start_generation()
    r = api.http.post("/cancel", json={"generation_id": gen_id}, headers=api.auth(token))
    assert r.json()["status"] == "canceled"
    assert api.balance(token) == 100


@pytest.mark.parametrize("round_", range(6))
def test_cancel_racing_a_webhook_and_a_sweep_ends_in_one_state_and_at_most_one_refund(api, stack, db, round_):
    from tests.test_replicate_webhook import deliver, prediction

    token, gen_id, pid = api.start_generation()
    age(db, gen_id, 46)  # the sweep will time it out
    outcome = "succeeded" if round_ % 2 else "failed"
    actions = [
        lambda: api.http.post("/cancel", json={"generation_id": gen_id}, headers=api.auth(token)),
        lambda: deliver(api, gen_id, prediction(pid, outcome, output=stack.emulator._output_url(pid))),
        lambda: sweep(stack.services),
    ]
    run_at_once(3, lambda i: actions[i]())
    final = row(db, gen_id)
    refunds = db.execute("select count(*) from public.credit_transactions where generation_id = %s and type = 'refund'",
                         (gen_id,)).fetchone()[0]
    assert final["status"] in ("succeeded", "failed", "canceled")
    assert refunds == (0 if final["status"] == "succeeded" else 1)
    assert api.balance(token) == (90 if final["status"] == "succeeded" else 100)


# --- retry ----------------------------------------------------------------------------------------

def test_retry_starts_a_new_charged_generation_with_the_same_inputs(api, stack):
    token, gen_id, pid = api.start_generation()
    stack.emulator.finish(pid, "failed", error="boom")
    wait_for(lambda: api.status(token, gen_id).json()["terminal"])
    r = api.http.post("/retry", json={"generation_id": gen_id}, headers=api.auth(token, **{"Idempotency-Key": "r1"}))
    assert r.status_code == 202, r.text
    new = r.json()
    assert new["retry_of"] == gen_id and new["generation_id"] != gen_id
    assert (new["cost"], new["credits_remaining"]) == (10, 90)  # refunded 10, charged 10 again
    assert stack.emulator.creates[-1]["input"] == stack.emulator.creates[0]["input"]
    again = api.http.post("/retry", json={"generation_id": gen_id}, headers=api.auth(token, **{"Idempotency-Key": "r1"}))
    assert again.json()["generation_id"] == new["generation_id"]
    assert api.balance(token) == 90
    assert api.status(token, new["generation_id"]).json()["retry_of"] == gen_id


def test_retry_of_an_image_generation_reuses_the_stored_image(api, stack):
    from tests.test_generation_endpoints import png

    token = api.token()
    gen_id = api.image_to_video(token, png()).json()["generation_id"]
    api.http.post("/cancel", json={"generation_id": gen_id}, headers=api.auth(token))
    r = api.http.post("/retry", json={"generation_id": gen_id}, headers=api.auth(token))
    assert r.status_code == 202, r.text
    import httpx

    assert httpx.get(stack.emulator.creates[-1]["input"]["image"], timeout=30).content == png()


def test_retry_of_a_generation_that_did_not_fail_is_409(api, stack):
    token, gen_id, pid = api.start_generation()
    assert_error(api.http.post("/retry", json={"generation_id": gen_id}, headers=api.auth(token)), 409, "invalid_state")
    stack.emulator.finish(pid, "succeeded")
    assert_error(api.http.post("/retry", json={"generation_id": gen_id}, headers=api.auth(token)), 409, "invalid_state")
    assert_error(api.http.post("/retry", json={"generation_id": gen_id}, headers=api.auth(api.token())), 404, "not_found")
    assert api.balance(token) == 90


# --- the sweep's line -----------------------------------------------------------------------------

def test_the_sweep_line_always_has_every_documented_key_zeros_included(stack, caplog):
    with caplog.at_level("INFO", logger="shared.sweep"):
        counts = sweep(stack.services)
    assert list(counts) == [*COUNTS, "duration_ms"]
    assert all(counts[key] == 0 for key in COUNTS)
    [line] = [json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith('{"event": "sweep"')]
    assert list(line) == ["event", *COUNTS, "duration_ms"]
    # The README's Deploying section lists the same keys, in the same order.
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    documented = re.search(r"`\{\"event\": \"sweep\", (.*?), \"duration_ms\": …\}`", readme, re.S).group(1)
    assert re.findall(r'"(\w+)": …', documented) == list(COUNTS)


def test_wan_api_sweep_works_through_the_supabase_client_without_database_url(tmp_path):
    postgrest = RecordedHttp()
    postgrest.answers[("POST", "/rest/v1/rpc/claim_for_sweep")] = (200, [])  # nothing to sweep
    postgrest.answers[("POST", "/rest/v1/rpc/claim_for_retention")] = (200, [])  # KEEP_FAVORITES' retention rule
    postgrest.answers[("POST", "/rest/v1/rpc/take_metrics_snapshot")] = (200, {"taken": False})
    postgrest.answers[("POST", "/rest/v1/rpc/refresh_analytics")] = (200, {"refreshed": 0, "took_ms": 0, "skipped": False})
    postgrest.answers[("POST", "/rest/v1/rpc/claim_webhook_deliveries")] = (200, [])  # no webhook is due
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
        env |= {"SUPABASE_URL": postgrest.url, "SUPABASE_SERVICE_ROLE_KEY": "sb_secret_test_key",
                "REPLICATE_API_TOKEN": "r8_test", "REPLICATE_BASE_URL": "http://127.0.0.1:9"}
        run = subprocess.run([sys.executable, "-m", "wan_local.cli", "sweep"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
    finally:
        postgrest.close()
    assert run.returncode == 0, run.stderr
    counts = json.loads(run.stdout.splitlines()[-1])
    assert (counts["examined"], counts["errors"]) == (0, 0)
    rules = [json.loads(r["body"]).get("p_rule") or r["path"].rsplit("/", 1)[1] for r in postgrest.requests]
    # Retention is claim_for_retention while KEEP_FAVORITES is on (the default; issue 25).
    assert rules == ["deadline", "queued_timeout", "stuck", "video_copy", "claim_webhook_deliveries",
                     "claim_for_retention", "deleted_files", "take_metrics_snapshot", "refresh_analytics"]
    assert {r["headers"]["apikey"] for r in postgrest.requests} == {"sb_secret_test_key"}
