"""The operator's actions and figures, for both the console (functions/admin.py, under /admin/) and
the `wan-api` CLI (wan_local/operator_cli.py): one implementation of each. The money itself moves in
SQL (migrations 0009 and 0017: adjust_credits, goodwill_refund and their audited wrappers); this
module picks the function, shapes the answer, and writes the audit row of actions whose effect lies
outside the database (a role set through Supabase's admin API, a "settle now" that asks Replicate).

An admin is a user whose access token carries `app_metadata.role == "admin"` (Supabase's place for
claims only the service key can set). API keys never act as an admin.
"""

from __future__ import annotations

import csv
import io
import re
import threading
import time
import weakref
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from shared import errors
from shared.metrics import seed_metrics

ADMIN_ROLE = "admin"
# Completion-time bins of the analytics (seconds, lower bounds; migration 0017's _analytics_day).
COMPLETION_BINS = (0, 30, 60, 120, 180, 300, 600, 1200, 2700)
TERMINAL = ("succeeded", "failed", "canceled")
AUDIT_CSV_COLUMNS = ("id", "at", "actor", "actor_id", "action", "user_id", "generation_id", "amount", "reason")


@dataclass(frozen=True)
class Admin:
    """Who acts: a console admin (user id and email from the token) or a CLI operator (a login name)."""

    actor: str
    user_id: uuid.UUID | None = None


# --- the overview -----------------------------------------------------------------------------------

def stats(backend, since: datetime) -> dict[str, Any]:
    """The seed's four metrics against their targets since `since`, the in-flight count and the
    ledger-discrepancy count: GET /admin/stats and `wan-api stats --json` (the same document)."""
    data = backend.call("operator_metrics", p_since=since.isoformat())  # a string: JSON-safe for PostgREST
    return {"since": since.isoformat(), **seed_metrics(data),
            "in_flight": sum(a["active"] for a in data["active"])}


_DURATION = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(value: str) -> timedelta:
    """30m, 24h, 7d, 2w -> a timedelta (ValueError otherwise)."""
    match = _DURATION.match(value.strip().lower())
    if not match or int(match[1]) == 0:
        raise ValueError(f"{value!r} is not a duration like 30m, 24h, 7d or 2w")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


# GET /admin/stats serves the document at most this old per window. Computing it reads whole tables
# (operator_metrics() runs ledger_discrepancies(), the full money check: seconds at a million
# generations, docs/benchmarks.md), so a page view must not pay that each time; the CLI computes live.
STATS_CACHE_SECONDS = 30
_STATS_CACHE_WINDOWS = 32
_stats_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # backend -> {window: (at, doc)}
_stats_lock = threading.Lock()


def cached_stats(backend, window: str) -> dict[str, Any]:
    """stats() over the last `window` (e.g. "24h"), reused for STATS_CACHE_SECONDS; one computation
    at a time per container (the others wait for its answer rather than start their own)."""
    key = window.strip().lower()
    delta = parse_duration(key)
    hit = _stats_cache.get(backend, {}).get(key)
    if hit is not None and time.monotonic() - hit[0] < STATS_CACHE_SECONDS:
        return hit[1]
    with _stats_lock:
        entries = _stats_cache.setdefault(backend, {})
        hit = entries.get(key)  # computed while this request waited for the lock
        if hit is not None and time.monotonic() - hit[0] < STATS_CACHE_SECONDS:
            return hit[1]
        doc = stats(backend, since_ago(delta))
        if len(entries) >= _STATS_CACHE_WINDOWS:
            entries.clear()
        entries[key] = (time.monotonic(), doc)
        return doc


def since_ago(delta: timedelta) -> datetime:
    return datetime.now(timezone.utc) - delta


# --- analytics --------------------------------------------------------------------------------------

def analytics(backend, days: int) -> dict[str, Any]:
    """Per UTC day over the last `days` (rollups, today live), and the window's models, failure
    reasons, completion-time distribution and busiest hours summed from those days."""
    per_day = backend.call("admin_analytics", p_days=days)
    models: dict[tuple, Counter] = {}
    failures: dict[str, dict] = {}
    bins = [0] * len(COMPLETION_BINS)
    hours = [0] * 24
    for day in per_day:
        for m in day["models"]:
            key = (m["model"], m["resolution"], m["kind"])
            models.setdefault(key, Counter()).update(
                {k: m[k] for k in ("generations", "succeeded", "failed", "canceled")})
        for f in day["failure_reasons"]:
            entry = failures.setdefault(f["error_code"], {"error_code": f["error_code"], "count": 0,
                                                          "example": f["example"]})
            entry["count"] += f["count"]
        bins = [a + b for a, b in zip(bins, day["completion_bins"])]
        hours = [a + b for a, b in zip(hours, day["hours"])]
    return {
        "days": [_day_out(d) for d in per_day],
        "models": [{"model": k[0], "resolution": k[1], "kind": k[2], **{s: c[s] for s in
                    ("generations", "succeeded", "failed", "canceled")}} for k, c in sorted(models.items())],
        "failure_reasons": sorted(failures.values(), key=lambda f: (-f["count"], f["error_code"]))[:10],
        "completion": [{"from_seconds": lo, "to_seconds": hi, "count": n} for lo, hi, n in
                       zip(COMPLETION_BINS, (*COMPLETION_BINS[1:], None), bins)],
        "busiest_hours": sorted(({"hour": h, "generations": n} for h, n in enumerate(hours)),
                                key=lambda x: (-x["generations"], x["hour"]))[:5],
        "hours": hours,
    }


_DAY_KEYS = ("date", "generations", "succeeded", "failed", "canceled", "in_flight", "credits_spent",
             "credits_refunded", "credits_sold", "credits_reversed", "credits_adjusted", "revenue",
             "completion_seconds_sum", "rolled_up")


def _day_out(day: dict) -> dict:
    return {k: day[k] for k in _DAY_KEYS}


# --- users ------------------------------------------------------------------------------------------

def users(backend, query: str, limit: int = 50) -> dict:
    return {"items": backend.call("admin_users", p_query=query, p_limit=limit)}


def user(backend, user_id: uuid.UUID) -> dict:
    return backend.call("admin_user", p_user_id=user_id, p_limit=50)


def find_user_id(backend, query: str) -> str:
    """A user id from an id or an email (404 when nobody matches)."""
    return backend.call("find_user", p_query=query, p_limit=0)["user_id"]


def adjust_credits(backend, admin: Admin, user_id: uuid.UUID | str, amount: int, reason: str) -> dict:
    """A grant (amount > 0) or deduction (< 0): one `adjustment` ledger row and one audit row; a
    deduction below zero is 409 invalid_state and writes nothing."""
    return backend.call("admin_adjust_credits", p_user_id=user_id, p_amount=amount, p_reason=reason,
                        p_actor=admin.actor, p_actor_id=admin.user_id)


def goodwill_refund(backend, admin: Admin, generation_id: uuid.UUID | str, reason: str) -> dict:
    """The goodwill refund of a succeeded generation whose video was lost: once, audited."""
    return backend.call("admin_goodwill_refund", p_gen_id=generation_id, p_reason=reason,
                        p_actor=admin.actor, p_actor_id=admin.user_id)


def block(backend, admin: Admin, user_id: uuid.UUID, reason: str) -> dict:
    return backend.call("admin_block_user", p_user_id=user_id, p_reason=reason, p_actor=admin.actor,
                        p_actor_id=admin.user_id)


def unblock(backend, admin: Admin, user_id: uuid.UUID, reason: str | None = None) -> dict:
    return backend.call("admin_unblock_user", p_user_id=user_id, p_actor=admin.actor, p_actor_id=admin.user_id,
                        p_reason=reason)


# --- generations ------------------------------------------------------------------------------------

def generation_list(backend, which: str, quiet_seconds: int, limit: int = 100) -> dict:
    return {"items": backend.call("admin_generations", p_list=which, p_quiet_seconds=quiet_seconds, p_limit=limit)}


def settle_now(svc, admin: Admin, generation_id: uuid.UUID) -> dict:
    """Ask Replicate about one unfinished generation and apply its answer, as the sweep's `stuck`
    rule does (shared/sweep.py), then audit it. A finished one, or one never given a job, is 409."""
    from shared import sweep

    gen = svc.backend.call("generation_by_id", p_gen_id=generation_id)
    if not gen:
        raise errors.NotFound("There is no such generation.")
    if gen["status"] in TERMINAL:
        raise errors.InvalidState(f"This generation already ended ({gen['status']}).")
    if not gen.get("replicate_id"):
        raise errors.InvalidState("This generation has no Replicate job yet; the sweep fails it after "
                                  "QUEUED_TIMEOUT_SECONDS.")
    counts = sweep.settle_one(svc, gen)
    after = svc.backend.call("generation_by_id", p_gen_id=generation_id)
    svc.backend.call("record_admin_action", p_action="generation.settle", p_actor=admin.actor,
                     p_actor_id=admin.user_id, p_user_id=gen["user_id"], p_generation_id=generation_id,
                     p_detail={"outcome": dict(counts), "status": after["status"]})
    return {"generation_id": str(generation_id), "status": after["status"], "terminal": after["status"] in TERMINAL,
            "refunded": after["refunded"], "outcome": dict(counts)}


# --- the audit --------------------------------------------------------------------------------------

def audit(backend, limit: int = 100, before: int | None = None, user_id: uuid.UUID | None = None) -> dict:
    items = backend.call("admin_audit_list", p_limit=limit, p_before=before, p_user_id=user_id)
    return {"items": items, "next_cursor": items[-1]["id"] if len(items) == limit else None}


def audit_csv(items: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180
    writer.writerow(AUDIT_CSV_COLUMNS)
    for row in items:
        writer.writerow(["" if row[c] is None else _csv_safe(str(row[c])) for c in AUDIT_CSV_COLUMNS])
    return out.getvalue()


def _csv_safe(value: str) -> str:
    # A reason typed by an admin could start a spreadsheet formula (CSV injection): quote it as text.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(value) else value


def _is_number(value: str) -> bool:
    try:
        float(value)
        return True
    except ValueError:
        return False


# --- the admin role ---------------------------------------------------------------------------------

def set_role(settings, backend, admin: Admin, email: str, grant: bool, reason: str | None = None) -> dict:
    """Make `email` an admin (or not): `app_metadata.role` through Supabase's admin API in production,
    or the local auth stand-in's auth.users row. Takes effect in the user's next access token."""
    user_id = find_user_id(backend, email)
    if settings.supabase_url and settings.supabase_service_role_key:
        from supabase import create_client

        client = create_client(settings.supabase_url, settings.supabase_service_role_key)
        # GoTrue merges app_metadata key by key; a null value removes the key.
        client.auth.admin.update_user_by_id(user_id, {"app_metadata": {"role": ADMIN_ROLE if grant else None}})
    elif settings.database_url:
        import psycopg

        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            meta = "raw_app_meta_data || '{\"role\": \"admin\"}'" if grant else "raw_app_meta_data - 'role'"
            conn.execute(f"update auth.users set raw_app_meta_data = {meta} where id = %s", (user_id,))
    else:
        raise errors.ServiceUnavailable("Set SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY (or DATABASE_URL locally).")
    backend.call("record_admin_action", p_action="admin.grant" if grant else "admin.revoke", p_actor=admin.actor,
                 p_actor_id=admin.user_id, p_user_id=user_id, p_reason=reason)
    return {"user_id": user_id, "email": email, "admin": grant}
