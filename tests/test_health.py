"""GET /health (the account function): 200 when the database answers, 503 in the contract's shape
when it does not, on both data paths; never a setting in the answer."""

from __future__ import annotations

import httpx
import pytest

from functions import account
from shared.app import create_app
from shared.db import PostgresBackend, SupabaseBackend
from shared.replicate_provider import ReplicateProvider
from shared.services import Services
from shared.settings import Settings
from shared.storage import LocalStorage
from tests.support import assert_error
from wan_local.dev import ThreadedServer
from wan_local.embedded_pg import free_port


def test_health_is_200_when_the_database_answers(api):
    r = api.http.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok", "database": "ok"}


def closed_supabase(port: int) -> SupabaseBackend:
    return SupabaseBackend.connect(f"http://127.0.0.1:{port}", "sb_secret_do_not_leak")


def closed_postgres(port: int) -> PostgresBackend:
    return PostgresBackend(f"postgresql://postgres:pw-do-not-leak@127.0.0.1:{port}/postgres", timeout=1)


@pytest.mark.parametrize("backend", [pytest.param(closed_postgres, id="direct"),
                                     pytest.param(closed_supabase, id="supabase")])
def test_health_is_503_without_a_word_of_the_settings_when_the_database_is_down(tmp_path, backend):
    port = free_port()  # nothing listens there
    settings = Settings(_env_file=None, database_url=None, supabase_url=f"http://127.0.0.1:{port}",
                        supabase_jwt_secret="jwt-secret-do-not-leak", replicate_api_token="r8_do_not_leak")
    svc = Services(settings, backend(port), ReplicateProvider("r8_do_not_leak", "http://127.0.0.1:9"),
                   LocalStorage(tmp_path, "http://127.0.0.1", b"k"))
    server = ThreadedServer(create_app(account.router(), services=svc), "127.0.0.1", 0).start()
    try:
        r = httpx.get(f"http://127.0.0.1:{server.port}/health", timeout=30)
    finally:
        ThreadedServer.stop_all([server])
        svc.close()
    body = assert_error(r, 503, "service_unavailable")
    assert body["detail"] == "The database is not answering."
    answer = r.text + str(r.headers)
    for secret in ("do-not-leak", "do_not_leak", f":{port}"):
        assert secret not in answer
