"""The embedded Postgres: one owner per data directory, and as root it changes the mode of no
directory it did not make (issue 11 item 8: a 0700 parent of WAN_DATA_DIR was widened to 0755)."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
import pytest

from wan_local import embedded_pg
from wan_local.embedded_pg import DataDirInUse, EmbeddedPostgres, find_bin_dir, free_port

ROOT = Path(__file__).resolve().parent.parent

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the server user only exists when run as root")


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@as_root
def test_as_root_only_the_directories_it_makes_change_and_a_second_owner_is_refused(pg_tmp_path):
    parent = pg_tmp_path / "home"
    parent.mkdir(mode=0o711)
    parent.chmod(0o711)  # enterable, not listable: the server user can pass through
    server = EmbeddedPostgres(parent / "made" / "pg", durable=False).start()
    try:
        assert mode(parent) == 0o711  # before the fix: widened to 0o755
        assert mode(parent / "made") == 0o711  # made here: just enough for the server user to pass
        with pytest.raises(DataDirInUse, match=rf"pid {os.getpid()}, port {server.port}"):
            EmbeddedPostgres(parent / "made" / "pg", durable=False).start()
        with psycopg.connect(server.url()) as conn:  # the refused start stopped nothing
            assert conn.execute("select 1").fetchone() == (1,)
    finally:
        server.stop()


@as_root
def test_as_root_inside_a_0700_directory_it_runs_from_copies_it_makes_and_widens_nothing(pg_tmp_path, monkeypatch):
    """A clone in root's 0700 home: the server user can reach neither the bundled binaries nor the data
    directory. Before: "cannot enter … (mode 700)". Now the binaries are copied once (per version or
    original path) and the cluster lives in a directory made for it, linked from the data directory."""
    private = pg_tmp_path / "private"
    private.mkdir()
    private.chmod(0o700)
    bundled = find_bin_dir()  # …/site-packages/pgserver/pginstall/bin
    (private / "site-packages").symlink_to(bundled.parents[2])  # the binaries, seen only through it
    monkeypatch.setenv("WAN_PG_BIN", str(private / "site-packages" / bundled.relative_to(bundled.parents[2])))
    monkeypatch.setattr(embedded_pg, "PASSABLE_CACHE", pg_tmp_path / "cache")
    monkeypatch.setattr(embedded_pg, "PASSABLE_DATA", pg_tmp_path / "clusters")
    data = private / "project" / ".wan-data" / "postgres"

    def started() -> tuple[EmbeddedPostgres, Path]:
        server = EmbeddedPostgres(data, durable=False).start()
        with psycopg.connect(server.url()) as conn:
            conn.execute("create table if not exists kept (n int)")
            count = conn.execute("select count(*) from kept").fetchone()[0]
            conn.execute("insert into kept values (1)")
        assert server.bin_dir.is_relative_to(pg_tmp_path / "cache")
        return server, count

    server, count = started()
    server.stop()
    link = data / "pgdata"
    assert link.is_symlink() and Path(os.readlink(link)).parent.parent == pg_tmp_path / "clusters"
    assert mode(private) == 0o700  # nothing of the user's was widened
    copy = server.bin_dir
    server, again = started()  # the same cluster again (its data kept), from the same copy
    server.stop()
    assert (count, again) == (0, 1) and server.bin_dir == copy
    shutil.rmtree(private / "project")  # "delete .wan-data to start over" still holds
    server, fresh = started()
    server.stop()
    assert fresh == 0


@as_root
def test_as_root_a_clone_inside_a_0700_directory_runs_wan_api_dev_and_its_tests(pg_tmp_path):
    """The project copied into a 0700 directory (root's home, a `mktemp -d`), its .venv the one this
    suite runs in (linked, not reinstalled; the clone's own code first on the path): `wan-api dev`
    serves, and a database test passes there."""
    home = pg_tmp_path / "root-home"
    home.mkdir()
    home.chmod(0o700)
    clone = home / "wan-video-api"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)
    (clone / ".venv").symlink_to(Path(sys.prefix))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "WAN_DATA_DIR", "WAN_PG_BIN")}
    env |= {"PYTHONPATH": str(clone), "WAN_PG_PASSABLE_DIR": str(pg_tmp_path / "passable"),
            "WAN_EMULATOR_RUN_SECONDS": "0.25"}
    python = str(clone / ".venv" / "bin" / "python")
    port = free_port()
    dev = subprocess.Popen([python, "-m", "wan_local.cli", "dev", "--port", str(port)], cwd=clone, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in dev.stdout:
            lines.append(line)
            if line.startswith("ready (Ctrl-C to stop)"):
                break
        banner = "".join(lines)
        assert f"data:       {clone / '.wan-data'}\n" in banner, banner
        token = httpx.post(f"http://127.0.0.1:{port}/dev/signup", json={"email": "root@example.com"},
                           timeout=30).json()["access_token"]
        credits = httpx.get(f"http://127.0.0.1:{port}/credits", headers={"Authorization": f"Bearer {token}"},
                            timeout=30)
        assert credits.json()["balance"] == 100
    finally:
        dev.send_signal(signal.SIGTERM)
        dev.wait(timeout=60)
    assert (clone / ".wan-data" / "postgres" / "pgdata").is_symlink()
    assert mode(home) == 0o700
    run = subprocess.run([python, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "-q",
                          "tests/test_health.py::test_health_is_200_when_the_database_answers"],
                         cwd=clone, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout + run.stderr
    assert str(clone / "tests" / "test_health.py") in subprocess.run(
        [python, "-c", "import tests.test_health as t; print(t.__file__)"], cwd=clone, env=env,
        capture_output=True, text=True).stdout  # it was the clone's code that ran


def test_a_data_directory_deep_enough_to_overflow_a_unix_socket_path_still_starts(pg_tmp_path):
    """Postgres refuses a Unix socket path over 107 bytes; a project cloned deep in a home directory
    would then never start its database. The stack connects over TCP only, so it opens no socket."""
    deep = pg_tmp_path / ("a-long-directory-name-" * 6) / "wan-data" / "postgres"
    assert len(str(deep / ".s.PGSQL.65535")) > 107
    server = EmbeddedPostgres(deep, durable=False).start()
    try:
        with psycopg.connect(server.url()) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
    finally:
        server.stop()
