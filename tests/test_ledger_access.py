"""Who may read and move money: row-level security and EXECUTE grants, as Supabase's API roles see them.

A connection switches to a role and sets `request.jwt.claims` exactly as PostgREST does for a request.
"""

from __future__ import annotations

import json

import psycopg
import pytest

from shared.credits import NewGeneration
from tests.support import balance, make_user


def as_role(conn, role: str, user_id=None) -> None:
    claims = {"role": role, "aud": "authenticated"} | ({"sub": str(user_id)} if user_id else {})
    conn.execute("select set_config('request.jwt.claims', %s, false)", (json.dumps(claims),))
    conn.execute(f"set role {role}")


@pytest.fixture
def two_users_with_history(db, credits):
    alice, bob = make_user(db), make_user(db)
    for user in (alice, bob):
        credits.create_generation(NewGeneration(user_id=user, kind="text-to-video", model="t2v-14B",
                                                resolution="480p", prompt="p", cost=10, max_active=3))
    return alice, bob


@pytest.fixture
def api_conn(db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield conn


def test_a_user_reads_only_their_own_rows(api_conn, two_users_with_history):
    alice, bob = two_users_with_history
    as_role(api_conn, "authenticated", alice)
    for table, owner_column in [("profiles", "id"), ("generations", "user_id"),
                                ("credit_transactions", "user_id")]:
        owners = {row[0] for row in api_conn.execute(f"select {owner_column} from public.{table}")}
        assert owners == {alice}, table


@pytest.mark.parametrize("call", [
    pytest.param("select public.add_credits(%(me)s, 1000, 'purchase', null)", id="add_credits"),
    pytest.param("select public.deduct_credits(%(me)s, 10, %(gen)s)", id="deduct_credits"),
    pytest.param("select public.refund_credits(%(gen)s)", id="refund_credits"),
    pytest.param("select public.create_generation(%(me)s, 'text-to-video', 't2v-14B', '480p', 'p', 1, 3)",
                 id="create_generation"),
    pytest.param("select public._post_ledger_entry(%(me)s, 1000, 'purchase', null, null)", id="_post_ledger_entry"),
    pytest.param("update public.profiles set credits = 100000 where id = %(me)s", id="update_credits"),
    pytest.param("insert into public.credit_transactions (user_id, amount, type, balance_after) "
                 "values (%(me)s, 1000, 'purchase', 1100)", id="insert_ledger_row"),
    pytest.param("delete from public.credit_transactions where user_id = %(me)s", id="delete_ledger_rows"),
    pytest.param("update public.generations set status = 'failed' where user_id = %(me)s", id="update_generation"),
    pytest.param("select public.record_checkout('cs_x', %(me)s, 'credits-100', 1000, 1, 'usd')", id="record_checkout"),
    pytest.param("select public.fulfil_purchase('cs_x', 'paid', 1, 'usd', %(me)s::text, 'credits-100')",
                 id="fulfil_purchase"),
    pytest.param("select public.reverse_purchase('evt_x', 'charge.dispute.closed', 'pi_x', null, null, 'dp_x', 1, 'won')",
                 id="reverse_purchase"),
    pytest.param("select public.end_checkout('cs_x', 'expired', 'evt_x', 'checkout.session.expired')", id="end_checkout"),
    pytest.param("select public._post_purchase_entry(%(me)s, 1000, 'purchase', null, null)", id="_post_purchase_entry"),
    pytest.param("select public.note_stripe_event('evt_x', 'x')", id="note_stripe_event"),
    pytest.param("select public.purchase_status('cs_x', %(me)s)", id="purchase_status"),
    pytest.param("insert into public.purchases (session_id, user_id, pack_id, credits, amount, currency) "
                 "values ('cs_x', %(me)s, 'p', 1000, 1, 'usd')", id="insert_purchase"),
])
@pytest.mark.parametrize("role", ["authenticated", "anon"])
def test_api_roles_cannot_move_money(api_conn, db, two_users_with_history, call, role):
    alice, _ = two_users_with_history
    gen = db.execute("select id from public.generations where user_id = %s", (alice,)).fetchone()[0]
    as_role(api_conn, role, alice if role == "authenticated" else None)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        api_conn.execute(call, {"me": alice, "gen": gen})
    assert balance(db, alice) == 90


@pytest.mark.parametrize("table", ["profiles", "generations", "credit_transactions"])
def test_anon_sees_nothing(api_conn, two_users_with_history, table):
    as_role(api_conn, "anon")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        api_conn.execute(f"select * from public.{table}")


def test_the_ledger_is_append_only_even_for_the_service_role(api_conn, two_users_with_history):
    alice, _ = two_users_with_history
    as_role(api_conn, "service_role")
    for statement in ["update public.credit_transactions set amount = 1000",
                      "delete from public.credit_transactions",
                      "update public.profiles set credits = 5000"]:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            api_conn.execute(statement)


def test_the_service_role_moves_money_through_the_functions(api_conn, db, two_users_with_history):
    alice, _ = two_users_with_history
    as_role(api_conn, "service_role")
    assert api_conn.execute("select public.add_credits(%s, 5, 'purchase', 'top-up')", (alice,)).fetchone()[0] == 95
    assert api_conn.execute("select count(*) from public.ledger_discrepancies()").fetchone()[0] == 0
    assert balance(db, alice) == 95


def test_money_functions_are_security_definer_with_an_empty_search_path(db):
    rows = db.execute(
        "select p.proname, p.prosecdef, p.proconfig from pg_proc p "
        "where p.pronamespace = 'public'::regnamespace"
    ).fetchall()
    assert rows, "no functions found"
    for name, secdef, config in rows:
        assert secdef, f"{name} is not security definer"
        assert 'search_path=""' in (config or []), f"{name} does not pin search_path: {config}"
