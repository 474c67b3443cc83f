"""`wan-api dev` as a newcomer runs it: its own embedded Postgres, the emulator, the README's steps,
and a clean stop; and against a "real" Replicate (the emulator on its own) it fetches the signing
secret from Replicate as the README says."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import httpx
import pytest

from shared.settings import Settings
from tests.support import wait_for
from wan_local.dev import PROJECT_DIR, DevStack, ThreadedServer, local_data_dir, mask_password
from wan_local.embedded_pg import free_port
from wan_local.replicate_emulator import ReplicateEmulator


def dev_env(data_dir, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REPLICATE_API_TOKEN")}
    return env | {"WAN_DATA_DIR": str(data_dir), "WAN_EMULATOR_RUN_SECONDS": "0.25"} | extra


def start_dev(tmp_path, port: int, data_dir) -> tuple[subprocess.Popen, str]:
    """`wan-api dev` in a subprocess, run from tmp_path; returns it and its banner."""
    dev = subprocess.Popen([sys.executable, "-m", "wan_local.cli", "dev", "--port", str(port)],
                           env=dev_env(data_dir), cwd=tmp_path, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in dev.stdout:
        lines.append(line)
        if line.startswith("ready (Ctrl-C to stop)"):
            return dev, "".join(lines)
    dev.wait(timeout=30)
    raise AssertionError(f"wan-api dev exited with {dev.returncode} before it was ready:\n{''.join(lines)}")


def test_wan_api_dev_serves_the_readme_walkthrough_and_stops_cleanly(tmp_path, pg_tmp_path):
    port = free_port()
    dev, banner = start_dev(tmp_path, port, pg_tmp_path / "data")
    try:
        assert "embedded Postgres" in banner and "emulator" in banner
        assert f"data:       {pg_tmp_path / 'data'}\n" in banner  # where the tokens' secrets and the database live
        assert f"POST  http://127.0.0.1:{port}/text-to-video" in banner
        assert f"web client: http://127.0.0.1:{port}/ " in banner  # what a person opens first
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            token = http.post("/dev/signup", json={"email": "me@example.com"}).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            gen = http.post("/text-to-video", headers=auth, json={
                "prompt": "a red fox running through fresh snow", "model": "t2v-14B", "resolution": "480p"}).json()
            done = wait_for(lambda: (s := http.get("/status", params={"generation_id": gen["generation_id"]},
                                                   headers=auth).json())["video_url"]
                            and s["video_url"].startswith(f"http://127.0.0.1:{port}/files/") and s)
            assert done["status"] == "succeeded"
            assert httpx.get(done["video_url"], timeout=30).content[4:8] == b"ftyp"
            assert http.post("/text-to-video", headers=auth, content=b'{"prompt": ').status_code == 422
        dev.send_signal(signal.SIGTERM)
        assert dev.wait(timeout=60) == 0  # a bound, not a speed: it stops by itself, exit code 0
        # Every log line of the run is one JSON object with a timestamp: requests, errors, uvicorn's.
        logged = [line for line in dev.stdout.read().splitlines() if line != "stopping…"]
        events = [json.loads(line) for line in logged]
        assert {e["event"] for e in events if "event" in e} >= {"request"}
        assert all(e["ts"].endswith("Z") and e["level"] for e in events)
        assert any(e.get("status") == 422 for e in events)
    finally:
        if dev.poll() is None:
            dev.kill()


def test_a_second_stack_on_a_data_directory_in_use_refuses_and_touches_nothing(tmp_path, pg_tmp_path):
    data, port = pg_tmp_path / "data", free_port()
    first, _ = start_dev(tmp_path, port, data)
    try:
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        token = http.post("/dev/signup", json={"email": "first@example.com"}).json()["access_token"]
        postmaster = (data / "postgres" / "pgdata" / "postmaster.pid").read_text()
        second = subprocess.run([sys.executable, "-m", "wan_local.cli", "dev", "--port", str(free_port())],
                                env=dev_env(data), cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert second.returncode == 1 and second.stdout == ""
        assert second.stderr.count("\n") == 1, second.stderr  # one line, no traceback
        assert f"pid {first.pid}" in second.stderr and f"port {port}" in second.stderr
        assert str(data) in second.stderr and "WAN_DATA_DIR" in second.stderr
        # The first stack's database was not stopped or taken over: it still serves the same data.
        assert (data / "postgres" / "pgdata" / "postmaster.pid").read_text() == postmaster
        assert http.get("/credits", headers={"Authorization": f"Bearer {token}"}).json()["balance"] == 100

        # A stack that died without stopping leaves its Postgres behind; the next one stops it and goes on.
        first.kill()
        first.wait(timeout=30)
        third, _ = start_dev(tmp_path, port, data)
        try:
            assert http.get("/credits", headers={"Authorization": f"Bearer {token}"}).json()["balance"] == 100
        finally:
            third.send_signal(signal.SIGTERM)
            assert third.wait(timeout=30) == 0
        http.close()
    finally:
        if first.poll() is None:
            first.kill()


def test_a_busy_port_is_one_line_suggesting_another_port(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run([sys.executable, "-m", "wan_local.cli", "dev", "--port", str(port)],
                             env=dev_env(tmp_path / "data"), cwd=tmp_path, capture_output=True, text=True,
                             timeout=60)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr == f"wan-api dev: port {port} on 127.0.0.1 is in use: choose another with --port " \
                         f"(--port 0 picks a free one)\n"
    assert not (tmp_path / "data").exists()  # refused before anything was made: no dev.lock, no secrets


def test_the_banner_masks_the_database_password(db_url, tmp_path):
    with_password = db_url.replace("postgresql://postgres@", "postgresql://postgres:s3cr3t-pw@")
    settings = Settings(_env_file=None, database_url=with_password, wan_data_dir=str(tmp_path), supabase_url=None,
                        replicate_api_token=None, replicate_webhook_secret=None, webhook_url=None,
                        supabase_jwt_secret=None)
    stack = DevStack(settings, port=0, sweep=False).start()  # trust auth: any password connects
    try:
        banner = "\n".join(stack.banner())
    finally:
        stack.stop()
    assert "s3cr3t-pw" not in banner
    assert with_password.replace("s3cr3t-pw", "***") in banner
    assert mask_password("postgresql://u:p%40ss@h:5432/db?sslmode=require") == \
        "postgresql://u:***@h:5432/db?sslmode=require"
    assert mask_password("postgresql://u@h/db") == "postgresql://u@h/db"


def test_the_data_directory_is_the_projects_whatever_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("WAN_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert local_data_dir(Settings(_env_file=None)) == PROJECT_DIR / ".wan-data"
    assert (PROJECT_DIR / "pyproject.toml").exists()
    # Set, it is a path as the shell gives it: relative to where the command runs.
    assert local_data_dir(Settings(_env_file=None, wan_data_dir="mine")) == tmp_path / "mine"
    # Installed without a project directory: no guess.
    monkeypatch.setattr("wan_local.dev.PROJECT_DIR", tmp_path / "site-packages")
    with pytest.raises(RuntimeError, match="set WAN_DATA_DIR"):
        local_data_dir(Settings(_env_file=None))


def test_against_replicate_the_stack_fetches_the_accounts_webhook_secret(db_url, tmp_path):
    replicate = ReplicateEmulator()
    server = ThreadedServer(replicate.app, "127.0.0.1", 0).start()
    replicate.base_url = f"http://127.0.0.1:{server.port}"
    settings = Settings(_env_file=None, database_url=db_url, wan_data_dir=str(tmp_path), supabase_url=None,
                        supabase_jwt_secret=None, replicate_webhook_secret=None, webhook_url=None,
                        replicate_api_token="r8_real_looking", replicate_base_url=replicate.base_url)
    stack = DevStack(settings, port=0, sweep=False).start()
    try:
        assert stack.emulator is None
        assert stack.settings.replicate_webhook_secret == replicate.webhook_secret
        replicate.behaviour.run_seconds = 0.1
        with httpx.Client(base_url=stack.url, timeout=30) as http:
            token = http.post("/dev/signup", json={"email": "r@example.com"}).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            gen_id = http.post("/text-to-video", headers=auth, json={
                "prompt": "p", "model": "t2v-14B", "resolution": "480p"}).json()["generation_id"]
            wait_for(lambda: http.get("/status", params={"generation_id": gen_id}, headers=auth).json()["terminal"])
        assert {d["status"] for d in replicate.deliveries} == {200}  # its signatures were accepted
    finally:
        stack.stop()
        ThreadedServer.stop_all([server])


def test_the_local_servers_send_answers_at_once_on_kept_alive_connections():
    """The listening socket has TCP_NODELAY and its connections inherit it. Without it (the socket is
    made with proto 0, which asyncio's own nodelay skips), Nagle held every answer after the first on
    a kept-alive connection ~40 ms for the client's delayed ACK (issue 15, docs/benchmarks.md)."""
    from wan_local.dev import bind

    with bind("127.0.0.1", 0) as listener, socket.create_connection(listener.getsockname()) as client:
        accepted, _ = listener.accept()
        with accepted:
            assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_db_pool_size_bounds_each_process_pool(db_url, tmp_path, monkeypatch):
    """DB_POOL_SIZE is the most connections one process keeps (containers x it must fit the Supabase
    pooler's client limit: docs/benchmarks.md); the service's and the commands' pools both take it."""
    from shared.services import postgres_backend
    from wan_local.dev import operator_services

    monkeypatch.setenv("DB_POOL_SIZE", "3")
    settings = Settings(_env_file=None, database_url=db_url, wan_data_dir=str(tmp_path), supabase_url=None,
                        supabase_service_role_key=None, replicate_api_token=None)
    assert settings.db_pool_size == 3
    for backend in (postgres_backend(settings), operator_services(settings).backend):
        try:
            assert backend.pool.max_size == 3
        finally:
            backend.close()
