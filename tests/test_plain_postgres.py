"""`wan-api migrate` and `wan-api dev` on a plain Postgres (not Supabase, no stand-in applied by hand),
and a bad setting stopping every command with one line."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys

import httpx
import psycopg
import pytest

from tests.support import postgres_tmp_dir
from wan_local.embedded_pg import EmbeddedPostgres
from wan_local.migrate import migration_files


@pytest.fixture(scope="module")
def plain_server():
    """A Postgres server of its own: no Supabase roles, no auth schema, nothing."""
    with postgres_tmp_dir() as path:
        server = EmbeddedPostgres(path, durable=False).start()
        yield server
        server.stop()


def plain_database(server, name: str) -> str:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f"drop database if exists {name} with (force)")
        conn.execute(f"create database {name}")
    return server.url(name)


def wan_api(*args, env: dict, cwd, timeout=90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wan_local.cli", *args], env={**os.environ, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def test_migrate_on_a_plain_postgres_applies_the_stand_in_first_and_says_so(plain_server, tmp_path):
    url = plain_database(plain_server, "plain_migrate")
    first = wan_api("migrate", env={"DATABASE_URL": url}, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["applied"] == [p.name for p in migration_files()]
    notes = [line for line in first.stderr.splitlines() if "stand-in" in line]
    assert len(notes) == 1 and "auth.users" in notes[0]
    again = wan_api("migrate", env={"DATABASE_URL": url}, cwd=tmp_path)
    assert again.returncode == 0 and "stand-in" not in again.stderr  # it has auth.users now
    with psycopg.connect(url) as conn:
        assert conn.execute("select count(*) from public.ledger_discrepancies()").fetchone()[0] == 0


def test_a_database_with_auth_users_is_never_given_the_stand_in(plain_server, tmp_path):
    url = plain_database(plain_server, "looks_like_supabase")
    with psycopg.connect(url, autocommit=True) as conn:  # what Supabase has: its own auth.users
        conn.execute("create schema auth; create table auth.users (id uuid primary key)")
    run = wan_api("migrate", env={"DATABASE_URL": url}, cwd=tmp_path)
    assert "stand-in" not in run.stderr
    # It went on to the migrations themselves (which need Supabase's roles, absent here): it did not
    # stop before deciding.
    assert run.returncode == 1 and "0001_credit_ledger.sql" in run.stderr, run.stderr
    with psycopg.connect(url) as conn:
        assert conn.execute("select to_regprocedure('auth.uid()') is null").fetchone()[0]  # not ours to add


def test_the_dev_stack_starts_on_a_plain_postgres(plain_server, tmp_path):
    url = plain_database(plain_server, "plain_dev")
    env = {**os.environ, "DATABASE_URL": url, "WAN_DATA_DIR": str(tmp_path / "data"), "REPLICATE_API_TOKEN": "",
           "SUPABASE_URL": "", "SUPABASE_JWT_SECRET": ""}
    proc = subprocess.Popen([sys.executable, "-m", "wan_local.cli", "dev", "--port", "0"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line.rstrip())
            if line.startswith("ready") or proc.poll() is not None:
                break
        assert lines and lines[-1].startswith("ready"), "\n".join(lines)
        assert sum("stand-in" in line for line in lines) == 1
        base = next(line.split()[-1] for line in lines if line.strip().startswith("POST") and "/dev/signup" in line)
        signup = httpx.post(base, json={"email": "plain@example.com"}, timeout=30)
        assert signup.status_code == 201, signup.text
        credits = httpx.get(base.replace("/dev/signup", "/credits"), timeout=30,
                            headers={"Authorization": f"Bearer {signup.json()['access_token']}"})
        assert credits.json()["balance"] == 100
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


@pytest.mark.parametrize("variable,value,allowed", [
    ("DEADLINE_SECONDS", "5", "at least 60"),
    ("MAX_ACTIVE_GENERATIONS", "abc", "whole number"),
    ("RETENTION_DAYS", "1.5", "use a whole number"),
    ("API_KEY_CACHE_SECONDS", "-1", "use a number of at least 0"),  # not "0.0", and the value is no secret
])
@pytest.mark.parametrize("command", [["dev", "--port", "0"], ["migrate"], ["sweep"]])
def test_a_bad_setting_stops_every_command_with_one_line(tmp_path, command, variable, value, allowed):
    env = {variable: value, "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
           "REPLICATE_API_TOKEN": "r8_x", "WAN_DATA_DIR": str(tmp_path)}
    run = wan_api(*command, env=env, cwd=tmp_path, timeout=60)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert run.stdout == ""  # the line only: not also as a JSON log line
    assert variable in lines[0] and repr(value) in lines[0] and lines[0].endswith(allowed)
    assert "Traceback" not in run.stderr and "pydantic" not in run.stderr.lower()


def test_a_service_container_logs_the_same_line(monkeypatch, caplog):
    """Modal builds each web app with create_app(): a bad setting is logged as the same one line."""
    from shared.app import create_app
    from shared.settings import SettingsError, get_settings

    monkeypatch.setenv("DEADLINE_SECONDS", "5")
    get_settings.cache_clear()
    try:
        with caplog.at_level(logging.ERROR, logger="shared.settings"), pytest.raises(SettingsError) as bad:
            create_app()
    finally:
        get_settings.cache_clear()
    assert str(bad.value) == "DEADLINE_SECONDS='5' is not allowed: use a number of at least 60"
    assert str(bad.value) in caplog.text
