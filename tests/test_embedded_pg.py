"""The embedded Postgres: one owner per data directory, and as root it changes the mode of no
directory it did not make (issue 11 item 8: a 0700 parent of WAN_DATA_DIR was widened to 0755)."""

from __future__ import annotations

import os
import stat

import psycopg
import pytest

from wan_local.embedded_pg import DataDirInUse, EmbeddedPostgres

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
def test_as_root_a_parent_the_server_user_cannot_enter_is_named_not_widened(pg_tmp_path):
    private = pg_tmp_path / "private"
    private.mkdir()
    private.chmod(0o700)
    with pytest.raises(RuntimeError, match=rf"cannot enter {private} \(mode 700\)"):
        EmbeddedPostgres(private / "data", durable=False).start()
    assert mode(private) == 0o700
    assert not (private / "data" / "pgdata").exists()


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
