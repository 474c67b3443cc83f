"""Helpers shared by the tests: users signed up as Supabase Auth does, balances, ledgers."""

from __future__ import annotations

import uuid


def make_user(conn, *, email: str | None = None, anonymous: bool = False) -> uuid.UUID:
    """Sign a user up the way Supabase Auth does: a row in auth.users (the trigger does the rest)."""
    email = email if email is not None or anonymous else f"{uuid.uuid4().hex[:10]}@example.com"
    (user_id,) = conn.execute(
        "insert into auth.users (email, is_anonymous) values (%s, %s) returning id", (email, anonymous)
    ).fetchone()
    return user_id


def balance(conn, user_id) -> int:
    return conn.execute("select credits from public.profiles where id = %s", (user_id,)).fetchone()[0]


def ledger(conn, user_id) -> list[tuple]:
    """The user's ledger, oldest first, as (type, amount, balance_after, generation_id)."""
    return conn.execute(
        "select type, amount, balance_after, generation_id from public.credit_transactions "
        "where user_id = %s order by id", (user_id,)
    ).fetchall()
