"""Issue 11 in the database: the ledger's sequence is not the API roles' to move, a sign-up that lost
its bonus is a discrepancy, and every foreign key has an index (Supabase's advisor, lint 0001)."""

from __future__ import annotations

import psycopg
import pytest

from tests.support import make_user
from tests.test_ledger_access import as_role

# Supabase splinter's lint 0001 (github.com/supabase/splinter, lints/0001_unindexed_foreign_keys.sql),
# narrowed to our schema: a foreign key is covered by an index on exactly its columns.
UNINDEXED_FOREIGN_KEYS = """
with foreign_keys as (
  select cl.oid::regclass as table_, ct.conname as fkey_name, ct.conkey as col_attnums
  from pg_constraint ct join pg_class cl on ct.conrelid = cl.oid
  where ct.contype = 'f' and cl.relnamespace::regnamespace::text = 'public'),
index_ as (
  select indrelid::regclass as table_, string_to_array(indkey::text, ' ')::smallint[] as col_attnums
  from pg_index where indisvalid)
select fk.table_::text, fk.fkey_name from foreign_keys fk
left join index_ idx on fk.table_ = idx.table_ and fk.col_attnums = idx.col_attnums
where idx.table_ is null order by 1, 2"""


@pytest.mark.parametrize("role", ["anon", "authenticated", "service_role"])
@pytest.mark.parametrize("statement", [
    "select setval('public.credit_transactions_id_seq', 9223372036854775807)",
    "select nextval('public.credit_transactions_id_seq')",
])
def test_the_api_roles_cannot_move_the_ledger_sequence(db_url, role, statement):
    with psycopg.connect(db_url, autocommit=True) as conn:
        user = make_user(conn)
        as_role(conn, role, user)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


def test_a_sign_up_that_could_not_get_its_bonus_is_a_discrepancy(db):
    # The sequence at its end (what a setval by an API role did): the trigger cannot write the bonus,
    # and does not raise (the sign-up itself must go through).
    db.execute("select setval('public.credit_transactions_id_seq', 9223372036854775807)")
    user = make_user(db)
    assert db.execute("select credits from public.profiles where id = %s", (user,)).fetchone() == (0,)
    problems = db.execute("select problem, user_id from public.ledger_discrepancies()").fetchall()
    assert problems == [("missing_signup_bonus", user)]
    # The operator's fix: the sequence back, the bonus granted; the books balance again.
    db.execute("select setval('public.credit_transactions_id_seq', 1000)")
    db.execute("select public.add_credits(%s, 100, 'signup_bonus', 'welcome bonus (late)')", (user,))
    assert db.execute("select * from public.ledger_discrepancies()").fetchall() == []


def test_an_anonymous_user_without_a_bonus_is_no_discrepancy(db):
    make_user(db, anonymous=True)
    assert db.execute("select * from public.ledger_discrepancies()").fetchall() == []


def test_every_foreign_key_has_an_index(db):
    unindexed = db.execute(UNINDEXED_FOREIGN_KEYS).fetchall()
    # Splinter's lint 0001 wants an index on exactly the key's columns. These two are served by an
    # index that leads with the key's column, which is all a cascade's lookup needs (see
    # migrations/0007_hardening.sql): generations_history (user_id, created_at, id) and
    # purchases_by_user (user_id, created_at). Nothing else may be left.
    # content_refusals_by_user (user_id, refused_at) serves content_refusals' the same way (0018).
    assert unindexed == [("content_refusals", "content_refusals_user_id_fkey"),
                         ("generations", "generations_user_id_fkey"), ("purchases", "purchases_user_id_fkey")]
    for table, index in (("generations", "generations_history"), ("purchases", "purchases_by_user")):
        (leading,) = db.execute(
            "select indkey[0] = (select attnum from pg_attribute where attrelid = %s::regclass "
            "and attname = 'user_id') from pg_index where indexrelid = %s::regclass",
            (f"public.{table}", f"public.{index}")).fetchone()
        assert leading, index
