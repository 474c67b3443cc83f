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


class MigrationError(RuntimeError):
    """Why `migrate` stopped, in one line a person can act on."""


def _checksum(sql: str) -> str:
    return hashlib.sha256(sql.encode()).hexdigest()


def migrate(url: str, directory: Path = MIGRATIONS_DIR, *, accept_changed: bool = False) -> list[str]:
    """Apply pending migrations to the database at `url`; return the names applied now.

    An applied file whose text changed since is refused (it would never run again, so the database
    would silently differ from the file); `accept_changed` records the new text without running it."""
    applied_now: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(_LEDGER_DDL)
            done = dict(conn.execute("select filename, checksum from wan_private.schema_migrations").fetchall())
            files = [(path, path.read_text()) for path in migration_files(directory)]
            _check_unchanged(conn, files, done, accept_changed)
            for path, sql in files:
                if path.name in done:
                    continue
                with conn.transaction():
                    _run(conn, path, sql)
                    conn.execute(
                        "insert into wan_private.schema_migrations (filename, checksum) values (%s, %s)",
                        (path.name, _checksum(sql)),
                    )
                applied_now.append(path.name)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now


def changed_migrations(url: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Applied files whose text differs from what was applied."""
    with psycopg.connect(url) as conn:
        exists = conn.execute("select to_regclass('wan_private.schema_migrations')").fetchone()[0]
        done = dict(conn.execute("select filename, checksum from wan_private.schema_migrations").fetchall()) \
            if exists else {}
    return [p.name for p in migration_files(directory) if p.name in done and done[p.name] != _checksum(p.read_text())]


def _check_unchanged(conn, files: list[tuple[Path, str]], done: dict, accept_changed: bool) -> None:
    changed = [(path, sql) for path, sql in files if path.name in done and done[path.name] != _checksum(sql)]
    if changed and not accept_changed:
        names = ", ".join(str(path) for path, _ in changed)
        raise MigrationError(
            f"{names} changed after it was applied, and an applied file never runs again: restore it and "
            f"put the change in a new migration, or run `wan-api migrate --accept-changed` to record the "
            f"file as it is now")
    for path, sql in changed:
        conn.execute("update wan_private.schema_migrations set checksum = %s where filename = %s",
                     (_checksum(sql), path.name))


def _run(conn, path: Path, sql: str) -> None:
    """Run one file; a failure is a MigrationError naming the file, the line and column, and the error."""
    try:
        conn.execute(sql)
    except psycopg.Error as exc:
        diag = exc.diag
        where = ""
        if diag.statement_position:
            before = sql[: int(diag.statement_position) - 1]
            where = f" at line {before.count(chr(10)) + 1}, column {len(before) - before.rfind(chr(10))}"
        elif diag.context:
            where = f" ({diag.context.splitlines()[0]})"
        message = (diag.message_primary or str(exc)).strip()
        raise MigrationError(f"{path}{where}: {message} [SQLSTATE {diag.sqlstate}]; "
                             f"nothing of this file was applied") from None
