"""Applies `migrations/*.sql` in order, each once, recording what was applied.

The same files go to Supabase and to local Postgres. Each file runs in its own transaction with its
record, under an advisory lock, so two `wan-api migrate` at once cannot apply a file twice.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import psycopg

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_LOCK_KEY = 7_262_001  # any constant shared by every migrate run

_LEDGER_DDL = """
create schema if not exists wan_private;
create table if not exists wan_private.schema_migrations (
  filename text primary key,
  checksum text not null,
  applied_at timestamptz not null default now()
);
"""


def bootstrap_sql() -> str:
    """The local-only SQL that makes a plain Postgres look like Supabase (roles, auth schema)."""
    return resources.files("wan_local").joinpath("sql/supabase_bootstrap.sql").read_text()


def apply_bootstrap(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(bootstrap_sql())


def bootstrap_if_plain(url: str) -> bool:
    """On a plain Postgres (no `auth.users`: not Supabase), apply the local Supabase stand-in first, so
    the production migrations run unchanged. A Supabase database always has auth.users and is never
    touched. True when the stand-in was applied now."""
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("select to_regclass('auth.users') is not null").fetchone()[0]:
            return False
    apply_bootstrap(url)
    return True


BOOTSTRAP_NOTE = ("no auth.users in this database (not Supabase): applied the local Supabase stand-in "
                  "(wan_local/sql/supabase_bootstrap.sql) first")


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    return sorted(directory.glob("*.sql"))


def migrate(url: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations to the database at `url`; return the names applied now."""
    applied_now: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(_LEDGER_DDL)
            done = {name for (name,) in conn.execute("select filename from wan_private.schema_migrations")}
            for path in migration_files(directory):
                if path.name in done:
                    continue
                sql = path.read_text()
                with conn.transaction():
                    conn.execute(sql)
                    conn.execute(
                        "insert into wan_private.schema_migrations (filename, checksum) values (%s, %s)",
                        (path.name, hashlib.sha256(sql.encode()).hexdigest()),
                    )
                applied_now.append(path.name)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now
