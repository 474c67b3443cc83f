"""Test fixtures: one embedded Postgres per test session (per xdist worker), a template database
migrated once exactly as production is, and a fresh database cloned from it for every test.

Every test that touches a database ends with the ledger check: `ledger_discrepancies()` must be empty.
"""

from __future__ import annotations

import itertools
import os

import psycopg
import pytest

from shared.credits import Credits
from shared.db import PostgresBackend
from shared.settings import Settings
from tests.support import Api, postgres_tmp_dir
from wan_local.dev import DevStack
from wan_local.embedded_pg import EmbeddedPostgres
from wan_local.migrate import apply_bootstrap, migrate

TEMPLATE = "wan_template"
_db_numbers = itertools.count()


@pytest.fixture(scope="session")
def pg_server():
    with postgres_tmp_dir() as path:
        server = EmbeddedPostgres(path, durable=False).start()
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute(f"create database {TEMPLATE}")
        apply_bootstrap(server.url(TEMPLATE))
        migrate(server.url(TEMPLATE))
        yield server
        server.stop()


@pytest.fixture
def pg_tmp_path():
    """A fresh directory for a test's own embedded Postgres (see postgres_tmp_dir)."""
    with postgres_tmp_dir() as path:
        yield path


@pytest.fixture
def db_url(pg_server):
    """A fresh, fully migrated database for one test; checked for discrepancies at the end."""
    name = f"t_{os.getpid()}_{next(_db_numbers)}"
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(f"create database {name} template {TEMPLATE} strategy file_copy")
    url = pg_server.url(name)
    yield url
    assert_books_balance(url)
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(f"drop database {name} with (force)")


def assert_books_balance(url: str) -> None:
    with psycopg.connect(url) as conn:
        problems = conn.execute("select * from public.ledger_discrepancies()").fetchall()
    assert problems == [], f"money rules broken: {problems}"


@pytest.fixture
def db(db_url):
    """An owner connection (what Supabase Auth and the migrations use), autocommit."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def backend(db_url):
    # As service_role, like the production Supabase path: a grant a migration forgot fails here.
    backend = PostgresBackend(db_url, max_size=60, role="service_role")
    yield backend
    backend.close()


@pytest.fixture
def credits(backend):
    return Credits(backend)


@pytest.fixture
def stack_settings() -> dict:
    """Settings a test module changes for its stack: override this fixture in the module."""
    return {}


@pytest.fixture
def stack(db_url, tmp_path, stack_settings):
    """The local stack (`wan-api dev`) on the test's database, with the Replicate emulator.

    Predictions wait at the emulator until a test finishes them (`stack.emulator.finish(...)`)."""
    settings = Settings(_env_file=None, **dict(
        database_url=db_url, wan_data_dir=str(tmp_path / "wan-data"),
        replicate_api_token=None, replicate_webhook_secret=None, supabase_url=None,
        supabase_service_role_key=None, supabase_jwt_secret=None, webhook_url=None,
        public_base_url=None, allowed_origins="https://app.example.com",
        # A bound, not a speed: a create that runs the prediction first (test_faults) waits on our
        # own webhook handling, seconds on a loaded machine. Tests of Replicate timeouts set theirs.
        replicate_timeout_seconds=30.0,
        stripe_secret_key=None, stripe_webhook_secret=None, checkout_success_url=None, checkout_cancel_url=None,
        # Tests of other rules make many calls a minute: the limits' own tests set theirs.
        create_rate_per_minute=100_000, request_rate_per_minute=100_000,
    ) | stack_settings)
    stack = DevStack(settings, port=0, sweep=False, db_role="service_role").start()
    stack.emulator.behaviour.auto_run = False
    yield stack
    stack.stop()


@pytest.fixture
def api(stack):
    with Api(stack) as client:
        yield client


from tests.browser_support import browser  # noqa: E402,F401 - one browser per session, for every module
