"""Faults: the database connection dropping mid-request; Replicate answering 5xx or 429, hanging past
the timeout, or closing the connection, on create, get and cancel; a webhook arriving while the
create is still in flight. Nothing is lost, nothing charged or refunded twice, and every answer says
what happened."""

from __future__ import annotations

import socket
import threading

import psycopg
import pytest

from shared.replicate_provider import ReplicateProvider
from shared.sweep import sweep
from tests.support import assert_error, wait_for


@pytest.fixture
def closing_server():
    """A TCP server that accepts every connection and closes it at once, answering nothing."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    stopped = threading.Event()

    def serve():
        while not stopped.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stopped.set()
    listener.close()


REPLICATE_FAULTS = ["500", "503", "429", "hangs", "closes_connection"]


def break_replicate(stack, fault: str, operation: str, closing_server: str) -> None:
    """Make Replicate fail one way on one operation (create, get or cancel)."""
    behaviour = stack.emulator.behaviour
    stack.services.provider = ReplicateProvider(stack.settings.replicate_api_token,
                                                closing_server if fault == "closes_connection" else stack.emulator.base_url,
                                                timeout_seconds=0.5)
    if fault in ("500", "503", "429"):
        setattr(behaviour, f"{operation}_status", int(fault))
    elif fault == "hangs":
        setattr(behaviour, f"{operation}_hang_seconds", 2.0)


def aged(db, gen_id, minutes):
    db.execute("update public.generations set created_at = created_at - make_interval(mins => %s), "
               "last_event_at = null where id = %s", (minutes, gen_id))


@pytest.mark.parametrize("fault", REPLICATE_FAULTS)
def test_replicate_failing_on_create_refunds_and_says_so(api, stack, closing_server, fault):
    token = api.token()
    break_replicate(stack, fault, "create", closing_server)
    r = api.text_to_video(token)
    assert "refunded" in assert_error(r, 503, "provider_unavailable")["detail"]
    assert api.balance(token) == 100
    items = api.http.get("/generations", headers=api.auth(token)).json()["items"]
    assert [(g["status"], g["refunded"]) for g in items] == [("failed", True)]


@pytest.mark.parametrize("fault", REPLICATE_FAULTS)
def test_replicate_failing_on_get_leaves_status_and_sweep_unchanged(api, stack, db, closing_server, fault):
    token, gen_id, pid = api.start_generation()
    stack.emulator.set_status(pid, "succeeded")
    aged(db, gen_id, 11)
    break_replicate(stack, fault, "get", closing_server)
    r = api.status(token, gen_id)
    assert r.status_code == 200 and r.json()["status"] == "processing"
    db.execute("update public.generations set polled_at = null where id = %s", (gen_id,))
    assert sweep(stack.services)["replicate_unreachable"] == 1
    assert api.balance(token) == 90


@pytest.mark.parametrize("fault", REPLICATE_FAULTS)
def test_replicate_failing_on_cancel_still_cancels_and_refunds_once(api, stack, closing_server, fault):
    token, gen_id, pid = api.start_generation()
    break_replicate(stack, fault, "cancel", closing_server)
    r = api.http.post("/cancel", json={"generation_id": gen_id}, headers=api.auth(token))
    assert r.status_code == 200 and (r.json()["status"], r.json()["refunded"]) == ("canceled", True)
    assert_error(api.http.post("/cancel", json={"generation_id": gen_id}, headers=api.auth(token)), 409, "invalid_state")
    assert api.balance(token) == 100


@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
def test_a_webhook_arriving_while_the_create_is_in_flight(api, stack, db, outcome):
    behaviour = stack.emulator.behaviour
    behaviour.auto_run, behaviour.run_seconds, behaviour.outcome = True, 0.05, outcome
    behaviour.answer_create_after_run = True  # the prediction runs and reports before we hear back
    token = api.token()
    r = api.text_to_video(token)
    assert r.status_code == 202
    gen_id = r.json()["generation_id"]
    assert r.json()["status"] == outcome  # the webhook got there first; the create's write kept it
    row = db.execute("select replicate_id, status from public.generations where id = %s", (gen_id,)).fetchone()
    assert row == (api.prediction_of(gen_id), outcome)
    assert api.balance(token) == (90 if outcome == "succeeded" else 100)


# --- the database connection dropping mid-request ---------------------------------------------

def drop_mid_request(db, db_url, lock_sql: str, lock_args, request, function: str):
    """Hold a row lock so `request` blocks inside `function`, kill its database session, and return
    the answer it got."""
    answer = {}
    with psycopg.connect(db_url) as locker:
        locker.execute(lock_sql, lock_args)
        sender = threading.Thread(target=lambda: answer.setdefault("r", request()))
        sender.start()
        pid = wait_for(lambda: db.execute(
            "select pid from pg_stat_activity where wait_event_type = 'Lock' and query like %s",
            (f"%{function}%",)).fetchone())[0]
        db.execute("select pg_terminate_backend(%s)", (pid,))
        sender.join()
    return answer["r"]


def test_the_database_dropping_during_a_create_charges_nothing(api, db, db_url):
    user_id, token = api.signup()
    r = drop_mid_request(db, db_url, "select 1 from public.profiles where id = %s for update", (user_id,),
                         lambda: api.text_to_video(token, key="k"), "create_generation")
    assert_error(r, 503, "service_unavailable")
    assert api.balance(token) == 100
    assert db.execute("select count(*) from public.generations").fetchone()[0] == 0
    assert api.stack.emulator.creates == []
    assert api.text_to_video(token, key="k").status_code == 202  # the retry goes through, once
    assert api.balance(token) == 90


def test_the_database_dropping_during_a_cancel_changes_nothing_and_the_retry_refunds_once(api, db, db_url):
    token, gen_id, pid = api.start_generation()
    r = drop_mid_request(db, db_url, "select 1 from public.generations where id = %s for update", (gen_id,),
                         lambda: api.http.post("/cancel", json={"generation_id": gen_id}, headers=api.auth(token)),
                         "cancel_generation")
    assert_error(r, 503, "service_unavailable")
    assert api.status(token, gen_id).json()["status"] == "processing"
    assert api.http.post("/cancel", json={"generation_id": gen_id}, headers=api.auth(token)).status_code == 200
    assert api.balance(token) == 100


def test_the_database_dropping_during_a_status_poll_writes_nothing(api, db, db_url):
    token, gen_id, pid = api.start_generation()
    aged(db, gen_id, 1)
    r = drop_mid_request(db, db_url, "select 1 from public.generations where id = %s for update", (gen_id,),
                         lambda: api.status(token, gen_id), "get_generation")
    assert_error(r, 503, "service_unavailable")
    assert db.execute("select polled_at from public.generations where id = %s", (gen_id,)).fetchone()[0] is None
    assert api.status(token, gen_id).status_code == 200


def test_a_status_call_with_an_api_key_locks_the_keys_row_only_after_its_generation(api, db, db_url):
    """A create made with a key locks its profile then the key's row; a webhook or cancel locks a
    generation then its profile. A status call that held the key's row (its last_used_at) while it
    waited for its generation would close that cycle: Postgres would abort one of the three."""
    token, gen_id, _ = api.start_generation()
    made = api.http.post("/api-keys", json={"name": "poller"}, headers=api.auth(token)).json()
    aged(db, gen_id, 1)  # quiet: the status claims a poll, which takes the generation's row lock
    answer = {}
    with psycopg.connect(db_url) as locker:
        locker.execute("select 1 from public.generations where id = %s for update", (gen_id,))
        sender = threading.Thread(target=lambda: answer.setdefault("r", api.status(made["key"], gen_id)))
        sender.start()
        wait_for(lambda: db.execute("select 1 from pg_stat_activity where wait_event_type = 'Lock' "
                                    "and query like '%get_generation_counted%'").fetchone())
        with psycopg.connect(db_url, autocommit=True) as other:  # the create's step: profile, then the key
            other.execute("set lock_timeout = '2s'")
            other.execute("update public.api_keys set last_used_at = now() where id = %s", (made["id"],))
        locker.rollback()
        sender.join()
    assert answer["r"].status_code == 200


def test_a_cancel_while_the_create_waits_on_replicate_refunds_once_and_stops_the_job(api, stack, db):
    from shared.replicate_provider import ReplicateProvider

    # The job must start: a deadline far above the 1 s hang, so a loaded machine cannot time it out.
    s = stack.services.settings
    stack.services.provider = ReplicateProvider(s.replicate_api_token, s.replicate_base_url, timeout_seconds=10)
    stack.emulator.behaviour.create_hang_seconds = 1.0
    token = api.token()
    answer = {}
    creator = threading.Thread(target=lambda: answer.setdefault("r", api.text_to_video(token)))
    creator.start()
    gen_id = str(wait_for(lambda: db.execute("select id from public.generations").fetchone())[0])
    canceled = api.http.post("/cancel", json={"generation_id": gen_id}, headers=api.auth(token))
    creator.join()
    assert (canceled.json()["status"], canceled.json()["refunded"]) == ("canceled", True)
    assert answer["r"].status_code == 202 and answer["r"].json()["status"] == "canceled"
    assert stack.emulator.cancels == [api.prediction_of(gen_id)]  # the job that started late is stopped
    assert api.balance(token) == 100
