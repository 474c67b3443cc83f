"""The money rules of the credit ledger, on a real Postgres with the production migrations."""

from __future__ import annotations

import contextlib
import uuid

import psycopg
import pytest

from shared import errors
from shared.credits import Credits, NewGeneration
from shared.db import PostgresBackend
from tests.support import balance, ledger, make_user, run_at_once


def new_generation(user_id, *, cost=10, max_active=1000, **extra) -> NewGeneration:
    return NewGeneration(user_id=user_id, kind="text-to-video", model="t2v-14B",
                         resolution="480p" if cost == 10 else "720p", prompt="a cat on a skateboard",
                         cost=cost, max_active=max_active, **extra)


def insert_uncharged_generation(db, user_id, *, cost=20, status="queued") -> uuid.UUID:
    """A generation row written directly by the owner, never charged (to exercise deduct_credits)."""
    completed = "now()" if status in ("succeeded", "failed", "canceled") else "null"
    return db.execute(
        "insert into public.generations (user_id, kind, model, resolution, prompt, cost, status, completed_at) "
        f"values (%s, 'text-to-video', 't2v-14B', '720p', 'p', %s, %s, {completed}) returning id",
        (user_id, cost, status),
    ).fetchone()[0]


def set_status(db, gen_id, status):
    db.execute("update public.generations set status = %s, completed_at = now() where id = %s",
               (status, gen_id))


# --- sign-up ---------------------------------------------------------------------------------------

def test_signup_grants_100_credits_once_as_one_bonus_row(db):
    user = make_user(db)
    assert balance(db, user) == 100
    assert ledger(db, user) == [("signup_bonus", 100, 100, None)]


def test_anonymous_user_gets_a_profile_but_no_bonus(db):
    user = make_user(db, anonymous=True)
    assert balance(db, user) == 0
    assert ledger(db, user) == []


def test_anonymous_user_made_permanent_gets_the_bonus_once(db):
    user = make_user(db, anonymous=True)
    db.execute("update auth.users set is_anonymous = false where id = %s", (user,))
    db.execute("update auth.users set is_anonymous = true where id = %s", (user,))
    db.execute("update auth.users set is_anonymous = false where id = %s", (user,))
    assert balance(db, user) == 100
    assert [row[0] for row in ledger(db, user)] == ["signup_bonus"]


def test_a_failing_signup_trigger_does_not_block_the_signup(db):
    # Make the bonus impossible (the ledger rejects it): the user must still be created.
    db.execute("alter table public.credit_transactions add constraint no_bonus check (type <> 'signup_bonus') not valid")
    user = make_user(db)
    assert db.execute("select count(*) from auth.users where id = %s", (user,)).fetchone()[0] == 1
    assert balance(db, user) == 0
    assert ledger(db, user) == []
    # ... and the missing bonus shows in the books (migrations/0007), until the operator grants it.
    assert db.execute("select problem, user_id from public.ledger_discrepancies()").fetchall() == [
        ("missing_signup_bonus", user)]
    db.execute("alter table public.credit_transactions drop constraint no_bonus")
    db.execute("select public.add_credits(%s, 100, 'signup_bonus', 'welcome bonus (late)')", (user,))


# --- deduct, add, refund ---------------------------------------------------------------------------

def test_add_deduct_refund_keep_balance_equal_to_ledger_sum(db, credits):
    user = make_user(db)
    assert credits.add_credits(user, 50, "purchase", "starter pack") == 150   # 100 + 50
    gen = insert_uncharged_generation(db, user, cost=20)
    assert credits.deduct_credits(user, 20, gen) == 130                       # 150 - 20
    set_status(db, gen, "failed")
    assert credits.refund_credits(gen) == "refunded"                          # 130 + 20
    assert credits.add_credits(user, -30, "adjustment", "chargeback") == 120  # 150 - 30
    assert ledger(db, user) == [
        ("signup_bonus", 100, 100, None),
        ("purchase", 50, 150, None),
        ("deduction", -20, 130, gen),
        ("refund", 20, 150, gen),
        ("adjustment", -30, 120, None),
    ]
    assert balance(db, user) == 120


def test_create_generation_charges_once_and_returns_the_balance(db, credits):
    user = make_user(db)
    created = credits.create_generation(new_generation(user, cost=20))
    assert created["status"] == "queued"
    assert created["cost"] == 20
    assert created["credits_remaining"] == 80  # 100 - 20
    assert created["replayed"] is False
    assert ledger(db, user)[-1] == ("deduction", -20, 80, uuid.UUID(created["generation_id"]))


@pytest.mark.parametrize("amount,type_", [
    pytest.param(-5, "purchase", id="negative_purchase"),
    pytest.param(0, "adjustment", id="zero_adjustment"),
    pytest.param(10, "refund", id="refund_is_not_added_by_hand"),
    pytest.param(10, "deduction", id="deduction_is_not_added_by_hand"),
])
def test_add_credits_rejects_bad_arguments_and_changes_nothing(db, credits, amount, type_):
    user = make_user(db)
    with pytest.raises(errors.InvalidRequest):
        credits.add_credits(user, amount, type_)
    assert ledger(db, user) == [("signup_bonus", 100, 100, None)]


def test_no_operation_can_take_a_balance_below_zero(db, credits):
    user = make_user(db)
    with pytest.raises(errors.InsufficientCredits) as caught:
        credits.add_credits(user, -101, "adjustment")
    assert (caught.value.extra["required"], caught.value.extra["balance"]) == (101, 100)
    gen = insert_uncharged_generation(db, user, cost=20)
    credits.add_credits(user, -90, "adjustment")
    with pytest.raises(errors.InsufficientCredits) as caught:
        credits.deduct_credits(user, 20, gen)
    assert caught.value.body() == {"detail": "This needs 20 credits and you have 10.",
                                   "code": "insufficient_credits", "required": 20, "balance": 10}
    with pytest.raises(errors.InsufficientCredits):
        credits.create_generation(new_generation(user, cost=20))
    assert balance(db, user) == 10
    assert db.execute("select count(*) from public.generations").fetchone()[0] == 1  # nothing inserted


def test_the_credits_check_constraint_holds_even_for_the_owner(db):
    user = make_user(db)
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("update public.profiles set credits = -1 where id = %s", (user,))


def test_deduct_credits_charges_a_generation_only_once(db, credits):
    user = make_user(db)
    gen = insert_uncharged_generation(db, user, cost=20)
    credits.deduct_credits(user, 20, gen)
    with pytest.raises(errors.InvalidState):
        credits.deduct_credits(user, 20, gen)
    with pytest.raises(errors.NotFound):
        credits.deduct_credits(make_user(db), 20, gen)  # someone else's generation
    assert balance(db, user) == 80


# --- concurrency -----------------------------------------------------------------------------------

@contextlib.contextmanager
def fifty_connections(db_url):
    """Credits over a pool whose 50 connections are all open before the race starts."""
    backend = PostgresBackend(db_url, min_size=50, max_size=50)
    backend.pool.wait()
    try:
        yield Credits(backend)
    finally:
        backend.close()


def test_50_concurrent_charges_of_20_against_100_let_exactly_5_through(db, db_url):
    user = make_user(db)
    with fifty_connections(db_url) as credits:
        results = run_at_once(50, lambda i: credits.create_generation(new_generation(user, cost=20)))
    charged = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, errors.InsufficientCredits)]
    assert (len(charged), len(refused)) == (5, 45)
    assert balance(db, user) == 0
    assert sorted(r["credits_remaining"] for r in charged) == [0, 20, 40, 60, 80]


def test_50_concurrent_deduct_credits_against_100_let_exactly_5_through(db, db_url):
    user = make_user(db)
    gens = [insert_uncharged_generation(db, user, cost=20) for _ in range(50)]
    with fifty_connections(db_url) as credits:
        results = run_at_once(50, lambda i: credits.deduct_credits(user, 20, gens[i]))
    assert sum(isinstance(r, int) for r in results) == 5
    assert sum(isinstance(r, errors.InsufficientCredits) for r in results) == 45
    assert balance(db, user) == 0


def test_10_concurrent_refunds_of_one_generation_write_one_refund(db, credits):
    user = make_user(db)
    gen = credits.create_generation(new_generation(user, cost=20))["generation_id"]
    set_status(db, gen, "canceled")
    outcomes = run_at_once(10, lambda i: credits.refund_credits(gen))
    assert sorted(outcomes) == ["already_refunded"] * 9 + ["refunded"]
    assert balance(db, user) == 100


# --- refunds ---------------------------------------------------------------------------------------

def test_refunding_twice_gives_one_refund(db, credits):
    user = make_user(db)
    gen = credits.create_generation(new_generation(user, cost=10))["generation_id"]
    set_status(db, gen, "failed")
    assert credits.refund_credits(gen) == "refunded"
    assert credits.refund_credits(gen) == "already_refunded"
    assert [row[0] for row in ledger(db, user)] == ["signup_bonus", "deduction", "refund"]
    assert balance(db, user) == 100


def test_refund_of_unknown_uncharged_unfinished_or_succeeded_generation_writes_nothing(db, credits):
    user = make_user(db)
    never_charged = insert_uncharged_generation(db, user, status="failed")
    succeeded = credits.create_generation(new_generation(user))["generation_id"]
    set_status(db, succeeded, "succeeded")
    running = credits.create_generation(new_generation(user))["generation_id"]
    before = ledger(db, user)
    assert credits.refund_credits(uuid.uuid4()) == "not_found"
    assert credits.refund_credits(never_charged) == "not_charged"
    assert credits.refund_credits(succeeded) == "succeeded"
    assert credits.refund_credits(running) == "not_finished"
    assert ledger(db, user) == before
    assert balance(db, user) == 80  # 100 - 10 - 10


def test_the_ledger_rejects_a_second_charge_or_refund_even_from_the_owner(db, credits):
    user = make_user(db)
    gen = credits.create_generation(new_generation(user))["generation_id"]
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute("insert into public.credit_transactions (user_id, amount, type, generation_id, balance_after) "
                   "values (%s, -10, 'deduction', %s, 80)", (user, gen))


# --- the check itself ------------------------------------------------------------------------------

def test_ledger_discrepancies_reports_each_kind_of_broken_rule(db, credits):
    user = make_user(db)
    gen = credits.create_generation(new_generation(user))["generation_id"]
    set_status(db, gen, "failed")  # failed but not refunded
    db.execute("update public.profiles set credits = credits + 7 where id = %s", (user,))
    problems = {row["problem"] for row in credits.ledger_discrepancies()}
    assert problems == {"balance_mismatch", "missing_refund"}
    # Put the books right again so the end-of-test check passes.
    db.execute("update public.profiles set credits = credits - 7 where id = %s", (user,))
    credits.refund_credits(gen)
    assert credits.ledger_discrepancies() == []
