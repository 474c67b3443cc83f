"""`wan-api migrate`: each file once, in order, recorded; safe to run again and on a server whose
Supabase roles already exist (roles are server-wide)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg

from wan_local.migrate import apply_bootstrap, migrate, migration_files


def fresh_database(pg_server, name: str) -> str:
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(f"drop database if exists {name} with (force)")
        conn.execute(f"create database {name}")
    return pg_server.url(name)


def test_migrate_applies_each_file_once_in_order_and_records_it(pg_server):
    url = fresh_database(pg_server, f"migrate_{os.getpid()}")
    apply_bootstrap(url)  # the roles exist already on this server: the template database made them
    apply_bootstrap(url)
    names = [p.name for p in migration_files()]
    assert names == sorted(names) and len(names) >= 5
    assert migrate(url) == names
    assert migrate(url) == []
    with psycopg.connect(url) as conn:
        recorded = [row[0] for row in conn.execute("select filename from wan_private.schema_migrations order by 1")]
        assert recorded == names
        assert conn.execute("select count(*) from public.ledger_discrepancies()").fetchone()[0] == 0


def test_the_cli_migrates_database_url_and_says_what_it_applied(pg_server, tmp_path):
    url = fresh_database(pg_server, f"migrate_cli_{os.getpid()}")
    apply_bootstrap(url)
    env = {**os.environ, "DATABASE_URL": url}
    run = lambda: subprocess.run([sys.executable, "-m", "wan_local.cli", "migrate"], env=env, cwd=tmp_path,
                                 capture_output=True, text=True, timeout=60)
    first, second = run(), run()
    assert first.returncode == second.returncode == 0, first.stderr
    assert json.loads(first.stdout)["applied"] == [p.name for p in migration_files()]
    assert json.loads(second.stdout)["applied"] == []
    missing = subprocess.run([sys.executable, "-m", "wan_local.cli", "migrate"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=60, env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"})
    assert missing.returncode == 2 and "DATABASE_URL" in missing.stderr
