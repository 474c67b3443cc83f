"""Grants are explicit: the local stand-in starts from Supabase's current default (nothing in public
is granted to the API roles automatically), and the service calls the database as service_role."""

from __future__ import annotations

import psycopg
import pytest

from shared.db import PostgresBackend
from shared.errors import ApiError


def test_the_stand_in_grants_nothing_by_default(db):
    db.execute("create table public.forgotten (id int)")
    db.execute("create function public.forgotten_fn() returns int language sql as 'select 1'")
    for role in ("anon", "authenticated", "service_role"):
        assert db.execute("select has_table_privilege(%s, 'public.forgotten', 'select')", (role,)).fetchone()[0] is False
    granted_by_default = db.execute(
        "select count(*) from pg_default_acl d join pg_namespace n on n.oid = d.defaclnamespace "
        "where n.nspname = 'public' and d.defaclacl::text ~ '(anon|authenticated|service_role)='").fetchone()[0]
    assert granted_by_default == 0


def test_a_function_without_its_grant_fails_through_the_service(db, db_url):
    db.execute("create function public.forgotten_grant() returns int language sql security definer "
               "set search_path = '' as 'select 1'")
    db.execute("revoke execute on function public.forgotten_grant() from public")
    backend = PostgresBackend(db_url, role="service_role")
    try:
        with pytest.raises(ApiError):
            backend.call("forgotten_grant")
        db.execute("grant execute on function public.forgotten_grant() to service_role")
        assert backend.call("forgotten_grant") == 1
    finally:
        backend.close()


def test_every_public_function_is_for_service_role_only_and_every_table_has_rls(db):
    functions = db.execute(
        "select p.oid::regprocedure::text, has_function_privilege('anon', p.oid, 'execute'), "
        "has_function_privilege('authenticated', p.oid, 'execute') "
        "from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public'").fetchall()
    assert functions and [f for f in functions if f[1] or f[2]] == []
    tables = db.execute("select c.relname, c.relrowsecurity from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                        "where n.nspname = 'public' and c.relkind = 'r'").fetchall()
    assert tables and [t for t in tables if not t[1]] == []


def test_the_ledger_is_stamped_when_written_so_id_and_time_orders_agree(db, db_url):
    from tests.support import make_user

    user = make_user(db)
    with psycopg.connect(db_url) as early, psycopg.connect(db_url, autocommit=True) as late:
        early.execute("select now()")  # this transaction starts first...
        late.execute("select public.add_credits(%s, 5, 'purchase', 'second to start')", (user,))
        early.execute("select public.add_credits(%s, 7, 'purchase', 'first to start')", (user,))
        early.commit()  # ...but writes its row last
    rows = db.execute("select id, created_at from public.credit_transactions where user_id = %s order by id",
                      (user,)).fetchall()
    times = [t for _, t in rows]
    assert len(rows) == 3 and times == sorted(times)
