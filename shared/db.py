"""Two ways to call the database's functions, with one error mapping.

- `PostgresBackend`: a direct connection pool (`DATABASE_URL`): the local stack, the tests, and
  production where a direct URL is configured.
- `SupabaseBackend`: the Supabase client's RPC over PostgREST with the service-role key.

Both expose `call(function, **params)`, which runs one SQL function in one transaction and returns
what it returns (a scalar, a JSON object, or a list of rows for set-returning functions), and both
turn database errors into the same `shared.errors` exceptions via `raise_db_error`.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, Protocol

from shared import errors
from shared.ratelimit import create_refused

log = logging.getLogger(__name__)

# Functions that return a set of rows (called as `select * from f(...)`); all others return one value.
SET_RETURNING = frozenset({"ledger_discrepancies"})


class Backend(Protocol):
    def call(self, function: str, **params: Any) -> Any: ...


def raise_db_error(sqlstate: str | None, message: str, detail: str | None, hint: str | None) -> None:
    """Map a database error (by SQLSTATE, as both paths report it) to the API's exceptions."""
    extra: dict[str, Any] = {}
    if detail:
        try:
            extra = json.loads(detail)
        except ValueError:
            extra = {}
    if sqlstate == "PT402":
        raise errors.InsufficientCredits(required=int(extra.get("required", 0)),
                                         balance=int(extra.get("balance", 0)))
    if sqlstate == "PT403" and hint == "account_blocked":  # 0017: a blocked user's create or checkout
        raise errors.AccountBlocked(_sentence(message), blocked_until=None, reason="admin")
    if sqlstate == "PT404":
        raise errors.NotFound(_sentence(message))
    if sqlstate == "PT409":
        if hint == "idempotency_key_reused":
            raise errors.IdempotencyKeyReused()
        raise errors.InvalidState(_sentence(message))
    if sqlstate == "PT429" and hint == "rate_limited":
        raise create_refused(_sentence(message), extra)
    if sqlstate == "PT429":
        raise errors.TooManyActiveGenerations(
            f"You already have {extra.get('active', 'too many')} generations in progress "
            f"(the limit is {extra.get('limit', '?')}); wait for one to finish."
        )
    if sqlstate == "PT403" and hint == "moderation_block":  # 0018's block after repeated refusals
        until = extra.get("blocked_until", "later")
        raise errors.AccountBlocked(
            f"After repeated content-policy refusals this account cannot start new generations until {until}; "
            "reads still work (to appeal, contact support).", blocked_until=extra.get("blocked_until"),
            reason="content_policy")
    if sqlstate == "22023":
        raise errors.InvalidRequest(_sentence(message))
    if sqlstate == "22003":  # numeric_value_out_of_range: e.g. a grant that would pass the balance's integer
        raise errors.InvalidRequest("A number is out of the range the ledger can hold (at most 2147483647 credits).")
    log.error("database error %s: %s", sqlstate, message)
    raise errors.ServiceUnavailable()


def _sentence(message: str) -> str:
    message = message.strip()
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def _bounded_connection(seconds: float):
    """A psycopg Connection class whose every wait on the server ends within `seconds` (psycopg
    3.3.6's wait timeout): a server that accepts bytes but never answers (SIGSTOPped, a hung host:
    the kernel still ACKs, so no TCP timeout fires, and a server-side statement_timeout cannot run in a
    frozen server) fails the call with OperationalError instead of holding the request until it wakes.
    The connection is closed then (it is mid-protocol), and the pool discards it."""
    import psycopg
    from psycopg import errors as pg_errors

    class BoundedConnection(psycopg.Connection):
        def wait(self, gen, interval=None, timeout=None):
            kwargs = {"interval": interval} if interval is not None else {}
            try:
                return super().wait(gen, timeout=seconds if timeout is None else timeout, **kwargs)
            except pg_errors._WaitTimeout:
                self.pgconn.finish()
                raise psycopg.OperationalError(f"the database did not answer within {seconds:g} s") from None

    return BoundedConnection


class PostgresBackend:
    """Calls functions over a psycopg connection pool; each call is its own transaction.

    Three bounds keep a frozen or unreachable database a quick 503 instead of a hang (issue 20):
    `connect_timeout` (a new connection, startup included), `timeout` (waiting for a free connection
    of the pool) and `statement_timeout` (one call's answer, enforced by the client, see
    _bounded_connection)."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 5,
                 role: str | None = None, connect_timeout: float = 5, statement_timeout: float = 10):
        """`role`: act as this database role (e.g. `service_role`, as the Supabase path does) instead
        of the connecting user, so the migrations' grants are what the calls rely on."""
        import psycopg_pool

        self.pool = psycopg_pool.ConnectionPool(
            url, min_size=min_size, max_size=max_size, open=True,
            connection_class=_bounded_connection(statement_timeout),
            # No check on checkout: it would cost a round trip per call. A connection that broke
            # (server restart, network cut) fails its one request with a 503 and is then discarded.
            # No server-side prepared statements: transaction poolers (Supabase's port 6543) do not
            # keep them, and `select f(...)` gains nothing from them (plpgsql caches its own plans).
            kwargs={"autocommit": True, "prepare_threshold": None, "connect_timeout": max(1, round(connect_timeout)),
                    **({"options": f"-c role={role}"} if role else {})}, timeout=timeout,
        )

    def call(self, function: str, **params: Any) -> Any:
        import psycopg
        import psycopg_pool
        from psycopg.types.json import Jsonb

        args = ", ".join(f"{name} => %({name})s" for name in params)
        values = {k: Jsonb(v) if isinstance(v, (dict, list)) else v for k, v in params.items()}
        if function in SET_RETURNING:
            sql = f"select * from public.{function}({args})"
        else:
            sql = f"select public.{function}({args})"
        try:
            with self.pool.connection() as conn:
                cur = conn.execute(sql, values)
                if function in SET_RETURNING:
                    names = [c.name for c in cur.description]
                    return [dict(zip(names, row)) for row in cur.fetchall()]
                return cur.fetchone()[0]
        except psycopg.Error as exc:
            diag = exc.diag
            raise_db_error(diag.sqlstate, diag.message_primary or str(exc), diag.message_detail,
                           diag.message_hint)
        except psycopg_pool.PoolTimeout as exc:
            log.error("database unreachable: %s", exc)
            raise errors.ServiceUnavailable() from exc

    def close(self) -> None:
        self.pool.close()


class SupabaseBackend:
    """Calls functions as PostgREST RPCs through the Supabase client (service-role key)."""

    def __init__(self, client: Any):
        self.client = client

    @classmethod
    def connect(cls, url: str, service_key: str) -> "SupabaseBackend":
        import httpx
        from supabase import ClientOptions, create_client

        # One HTTP/1.1 client per container: the default sync HTTP/2 client breaks when shared
        # across the threads that @modal.concurrent runs sync handlers in.
        http = httpx.Client(http2=False, timeout=httpx.Timeout(15.0, connect=5.0))
        return cls(create_client(url, service_key, options=ClientOptions(httpx_client=http)))

    def call(self, function: str, **params: Any) -> Any:
        import httpx
        from postgrest.exceptions import APIError

        params = {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in params.items()}
        try:
            return self.client.rpc(function, params).execute().data
        except APIError as exc:
            raise_db_error(exc.code, exc.message or "database error", _as_text(exc.details), exc.hint)
        except httpx.HTTPError as exc:
            log.error("Supabase unreachable: %s", exc)
            raise errors.ServiceUnavailable() from exc

    def close(self) -> None:
        pass


def _as_text(details: Any) -> str | None:
    if details is None or isinstance(details, str):
        return details
    return json.dumps(details)
