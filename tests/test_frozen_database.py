"""Issue 20, item 3: a frozen database (its processes stopped by SIGSTOP: the kernel still accepts
connections and ACKs bytes, nothing answers) is a quick 503 service_unavailable, not a hang.

Each test starts its own Postgres and freezes only that one (never the server other tests share), and
always thaws it before stopping it.
"""

from __future__ import annotations

import os
import signal

import httpx
import pytest

from shared import errors
from shared.db import PostgresBackend
from shared.settings import Settings
from tests.support import Api, wait_for
from wan_local.dev import DevStack
from wan_local.embedded_pg import EmbeddedPostgres
from wan_local.migrate import apply_bootstrap, migrate

PROBE = {"p_gen_id": "00000000-0000-0000-0000-000000000000"}


def _signal(pid: int, signum: int) -> None:
    """A child may exit between being listed and being signalled (a backend ending its session)."""
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


@pytest.fixture
def own_pg(pg_tmp_path):
    server = EmbeddedPostgres(pg_tmp_path, durable=False).start()
    apply_bootstrap(server.url())
    migrate(server.url())
    postmaster = server.process.pid

    class Freezer:
        """SIGSTOP the postmaster first (it can fork nothing more), then each of its children (each
        backend calls setsid(), so a process group would not reach them); SIGCONT them all."""
        url = server.url()

        def freeze(self):
            os.kill(postmaster, signal.SIGSTOP)
            for pid in _children(postmaster):
                _signal(pid, signal.SIGSTOP)

        def thaw(self):
            for pid in _children(postmaster):
                _signal(pid, signal.SIGCONT)
            os.kill(postmaster, signal.SIGCONT)

    freezer = Freezer()
    try:
        yield freezer
    finally:
        freezer.thaw()
        server.stop()


def _children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue  # it ended meanwhile
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:  # field 4: ppid (after "pid (comm)")
                found.append(int(entry))
    return found


def test_every_call_to_a_frozen_database_is_a_503_within_its_bounds_and_recovers(own_pg):
    backend = PostgresBackend(own_pg.url, min_size=1, max_size=2, role="service_role",
                              connect_timeout=2, timeout=2, statement_timeout=2)
    try:
        assert backend.call("generation_by_id", **PROBE) is None  # warm: a pooled connection is open
        own_pg.freeze()
        # 1: the pooled connection's statement never answers; 2: a new connection's startup never
        # answers (the pool makes one, connect_timeout); 3: more calls than connections (pool timeout).
        for _ in range(4):
            with pytest.raises(errors.ServiceUnavailable):
                backend.call("generation_by_id", **PROBE)
        own_pg.thaw()
        wait_for(lambda: _answers(backend), timeout=30)  # the broken connections were discarded
    finally:
        own_pg.thaw()
        backend.close()


def _answers(backend) -> bool:
    try:
        return backend.call("generation_by_id", **PROBE) is None
    except errors.ServiceUnavailable:
        return False


def test_health_and_requests_answer_503_while_the_database_is_frozen(own_pg, tmp_path):
    # The statement bound is far longer than this client waits: /health answering at all shows that
    # it has its own bound (HEALTH_SECONDS) below the database's.
    settings = Settings(_env_file=None, database_url=own_pg.url, wan_data_dir=str(tmp_path / "d"),
                        replicate_api_token=None, replicate_webhook_secret=None, supabase_url=None,
                        supabase_service_role_key=None, supabase_jwt_secret=None, webhook_url=None,
                        public_base_url=None, stripe_secret_key=None, stripe_webhook_secret=None,
                        db_connect_timeout_seconds=2, db_pool_timeout_seconds=2, db_statement_timeout_seconds=60)
    stack = DevStack(settings, port=0, sweep=False, db_role="service_role").start()
    try:
        with Api(stack) as api:
            token = api.token()
            assert api.http.get("/health").status_code == 200
            own_pg.freeze()
            with httpx.Client(base_url=stack.url, timeout=15) as http:
                r = http.get("/health")
                assert r.status_code == 503 and r.json()["code"] == "service_unavailable", r.text
                assert "Retry-After" in r.headers
            own_pg.thaw()
            wait_for(lambda: api.http.get("/health").status_code == 200, timeout=30)
            assert api.http.get("/credits", headers=api.auth(token)).status_code == 200
    finally:
        own_pg.thaw()
        stack.stop()


def test_a_request_to_a_frozen_database_is_a_503_not_a_hang(own_pg, tmp_path):
    settings = Settings(_env_file=None, database_url=own_pg.url, wan_data_dir=str(tmp_path / "d"),
                        replicate_api_token=None, replicate_webhook_secret=None, supabase_url=None,
                        supabase_service_role_key=None, supabase_jwt_secret=None, webhook_url=None,
                        public_base_url=None, stripe_secret_key=None, stripe_webhook_secret=None,
                        db_connect_timeout_seconds=2, db_pool_timeout_seconds=2, db_statement_timeout_seconds=3)
    stack = DevStack(settings, port=0, sweep=False, db_role="service_role").start()
    try:
        with Api(stack) as api:
            token = api.token()
            own_pg.freeze()
            with httpx.Client(base_url=stack.url, timeout=30) as http:
                for _ in range(2):
                    r = http.get("/credits", headers=api.auth(token))
                    assert r.status_code == 503 and r.json()["code"] == "service_unavailable", r.text
            own_pg.thaw()
            wait_for(lambda: api.http.get("/credits", headers=api.auth(token)).status_code == 200, timeout=30)
    finally:
        own_pg.thaw()
        stack.stop()
