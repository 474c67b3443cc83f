"""docs/schema.sql: the database as the migrations leave it, in one file to read (tables, constraints,
indexes, functions, policies, grants of the `public` and `wan_private` schemas).

    .venv/bin/python -m wan_local.schema_dump > docs/schema.sql

starts a throwaway embedded Postgres, applies the local Supabase stand-in and every migration exactly as
`wan-api migrate` does, and prints `pg_dump --schema-only` of it, normalised so the file changes only
when the schema does: no version banner, session settings or pg_dump's per-run \\restrict keys.
tests/test_schema_dump.py fails, naming the command above, while the file is stale. Generated: never
edit it by hand (a migration is the only way to change the schema).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

from wan_local.embedded_pg import EmbeddedPostgres, find_bin_dir
from wan_local.migrate import apply_bootstrap, migrate

SCHEMAS = ("public", "wan_private")
COMMAND = ".venv/bin/python -m wan_local.schema_dump > docs/schema.sql"
HEADER = f"""\
-- The database schema as migrations/ leave it (schemas {', '.join(SCHEMAS)}). GENERATED, do not edit:
-- change the schema with a new migration, then regenerate this file with
--   {COMMAND}
-- (tests/test_schema_dump.py fails while it is stale).
"""
_DROP_LINE = re.compile(r"^(SET |SELECT pg_catalog\.set_config|\\restrict |\\unrestrict |-- Dumped (from|by) )")


def dump(url: str) -> str:
    """The normalised schema-only dump of the database at `url`."""
    pg_dump = find_bin_dir() / "pg_dump"
    if not pg_dump.exists():
        pg_dump = Path(shutil.which("pg_dump") or "pg_dump")
    args = [str(pg_dump), "--schema-only", "--no-owner", "--no-tablespaces", "--dbname", url]
    for schema in SCHEMAS:
        args += ["--schema", schema]
    raw = subprocess.run(args, check=True, capture_output=True, text=True, timeout=120).stdout
    return normalise(raw)


def normalise(raw: str) -> str:
    lines = [line for line in raw.splitlines() if not _DROP_LINE.match(line)]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return HEADER + "\n" + text + "\n"


def migrated_dump() -> str:
    """Migrate a fresh embedded Postgres and dump it."""
    path = Path(tempfile.mkdtemp(prefix="wan-schema-"))
    path.chmod(0o711)  # as root the server runs as another user, which must pass through (embedded_pg.py)
    server = EmbeddedPostgres(path, durable=False).start()
    try:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute("create database wan_schema")
        url = server.url("wan_schema")
        apply_bootstrap(url)
        migrate(url)
        return dump(url)
    finally:
        server.stop()
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    sys.stdout.write(migrated_dump())
