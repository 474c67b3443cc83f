"""Per-user rate limits a client can read (issue 13).

Two fixed one-minute windows per user, counted in Postgres (migrations/0010): `create` (the create
calls, counted inside the create transaction itself) and `request` (every other signed-in call: GET
/status inside its own read, migrations/0011; the rest by one cheap upsert before the handler). The service-wide MAX_CREATES_PER_MINUTE is a third window counted
with each create. Every answer to a signed-in call carries the IETF draft headers
(draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy: "create";q=10;w=60` and
`RateLimit: "create";r=7;t=42`, r = calls left in this window, t = seconds until it resets); a
refusal is 429 `rate_limited` with `Retry-After`.

The caller of the request being served (user, API key, what its window said) lives in a context
variable set by the request guard (shared/app.py), so the create path can pass the key on and hand
its window back without every handler threading it through.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field

from shared import errors

WINDOW_SECONDS = 60
HEADERS = ("RateLimit-Policy", "RateLimit", "Retry-After")


@dataclass
class Caller:
    """Who makes the current request, and the state of the window it was counted in (once known)."""

    user_id: uuid.UUID
    api_key_id: uuid.UUID | None = None
    policy: str = "request"
    rate: dict | None = field(default=None)


_caller: ContextVar[Caller | None] = ContextVar("wan_caller", default=None)


def current() -> Caller | None:
    return _caller.get()


def use(caller: Caller):
    """Make `caller` the current one; returns the token to reset it with."""
    return _caller.set(caller)


def reset(token) -> None:
    _caller.reset(token)


def policy_header(policy: str, limit: int) -> str:
    return f'"{policy}";q={limit};w={WINDOW_SECONDS}'


def state_header(policy: str, remaining: int, reset_seconds: int) -> str:
    return f'"{policy}";r={max(0, remaining)};t={max(0, reset_seconds)}'


def limit_of(policy: str, settings) -> int:
    return settings.create_rate_per_minute if policy == "create" else settings.request_rate_per_minute


def headers(caller: Caller, settings) -> dict[str, str]:
    """The headers every answer to this caller carries: the policy always, the state once counted."""
    out = {"RateLimit-Policy": policy_header(caller.policy, limit_of(caller.policy, settings))}
    if caller.rate is not None:
        out["RateLimit"] = state_header(caller.policy, caller.rate["remaining"], caller.rate["reset"])
    return out


def request_refused(rate: dict) -> errors.RateLimited:
    return errors.RateLimited(
        f"You have made {rate['limit']} requests this minute, the most allowed; try again in "
        f"{rate['reset']} seconds.", retry_after=int(rate["reset"]),
        headers={"RateLimit": state_header("request", 0, int(rate["reset"])),
                 "RateLimit-Policy": policy_header("request", int(rate["limit"]))})


def create_refused(sentence: str, rate: dict) -> errors.RateLimited:
    """The create transaction's refusal (PT429, hint rate_limited), with its window in `rate`."""
    reset_seconds = int(rate.get("reset", WINDOW_SECONDS))
    caller = current()
    if caller is not None:
        caller.rate = {"remaining": 0, "reset": reset_seconds}
    return errors.RateLimited(f"{sentence[:-1]}; try again in {reset_seconds} seconds.",
                              retry_after=reset_seconds,
                              headers={"RateLimit": state_header("create", 0, reset_seconds)})


def note_request(rate: dict) -> None:
    """A call whose own transaction counted it in the `request` window (GET /status): its state goes
    on the answer, and a refusal is the 429."""
    if not rate["allowed"]:
        raise request_refused(rate)
    caller = current()
    if caller is not None:
        caller.rate = rate


def note_create(rate: dict | None) -> None:
    """The create transaction counted this create: its window's state goes on the answer."""
    caller = current()
    if caller is not None and rate is not None:
        caller.rate = rate
