"""`wan-api migrate`: each file once, in order, recorded; safe to run again and on a server whose
Supabase roles already exist (roles are server-wide)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import psycopg
import pytest

from wan_local.migrate import MigrationError, apply_bootstrap, changed_migrations, migrate, migration_files


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


def test_an_applied_file_that_changed_is_refused_by_name_unless_accepted(pg_server, tmp_path):
    url = fresh_database(pg_server, f"migrate_changed_{os.getpid()}")
    apply_bootstrap(url)
    directory = tmp_path / "migrations"
    directory.mkdir()
    for path in migration_files():
        shutil.copy(path, directory)
    assert migrate(url, directory) == [p.name for p in migration_files()]
    edited = directory / "0002_generation_lifecycle.sql"
    edited.write_text(edited.read_text() + "\n-- an edit after it was applied\n")
    with pytest.raises(MigrationError, match=rf"{re.escape(str(edited))} changed after it was applied.*--accept-changed"):
        migrate(url, directory)
    assert changed_migrations(url, directory) == [edited.name]
    assert migrate(url, directory, accept_changed=True) == []
    assert migrate(url, directory) == []  # the new checksum is what is recorded now
    assert changed_migrations(url, directory) == []


def test_a_failed_migration_names_the_file_line_and_error_and_applies_none_of_it(pg_server, tmp_path):
    url = fresh_database(pg_server, f"migrate_bad_{os.getpid()}")
    bad = tmp_path / "0001_bad.sql"
    bad.write_text("create table public.half_done (id int);\n"
                   "insert into public.half_done values (1);\n"
                   "select nothing from public.nowhere;\n")
    with pytest.raises(MigrationError) as failure:
        migrate(url, tmp_path)
    assert str(failure.value) == (f'{bad} at line 3, column 21: relation "public.nowhere" does not exist '
                                  f"[SQLSTATE 42P01]; nothing of this file was applied")
    with psycopg.connect(url) as conn:
        assert conn.execute("select to_regclass('public.half_done')").fetchone() == (None,)
        assert conn.execute("select count(*) from wan_private.schema_migrations").fetchone() == (0,)


def test_the_cli_refuses_a_changed_file_in_one_line_and_accepts_it_when_told(pg_server, tmp_path):
    url = fresh_database(pg_server, f"migrate_cli_changed_{os.getpid()}")
    apply_bootstrap(url)
    migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:  # as if the file had changed since it was applied
        conn.execute("update wan_private.schema_migrations set checksum = 'old' "
                     "where filename = '0003_video_copy.sql'")
    env = {**os.environ, "DATABASE_URL": url}
    run = lambda *flags: subprocess.run([sys.executable, "-m", "wan_local.cli", "migrate", *flags], env=env,
                                        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    refused = run()
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.startswith("wan-api migrate: ") and "0003_video_copy.sql changed" in refused.stderr
    accepted = run("--accept-changed")
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout) == {"applied": [], "accepted_changed": ["0003_video_copy.sql"]}
    assert run().returncode == 0
