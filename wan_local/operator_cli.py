"""The operator's commands (the same actions as the console at /admin/, through shared/admin.py; every
change is one ledger row and one audit row):

  wan-api user find EMAIL|ID
  wan-api credits grant USER AMOUNT --reason TEXT [--by NAME]
  wan-api credits deduct USER AMOUNT --reason TEXT [--by NAME]
  wan-api refund GENERATION --reason TEXT [--by NAME]     (goodwill refund of a lost video, once)
  wan-api stats [--since 24h] [--json]
  wan-api admin grant|revoke EMAIL [--reason TEXT] [--by NAME]   (the console's admin role)

USER is a user id or an email. They talk to DATABASE_URL, or to Supabase with the service key.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import uuid
from datetime import timedelta

from shared import admin, errors
from shared.settings import get_settings



def add_commands(commands) -> None:
    user = commands.add_parser("user", help="look at users").add_subparsers(dest="user_command", required=True)
    find = user.add_parser("find", help="a user's profile, balance, last generations and ledger rows")
    find.add_argument("query", metavar="EMAIL|ID")
    find.set_defaults(run=cmd_user_find)

    credits = commands.add_parser("credits", help="adjust a user's credits (one ledger row with who and why)")
    actions = credits.add_subparsers(dest="credits_command", required=True)
    for name, sign in (("grant", 1), ("deduct", -1)):
        p = actions.add_parser(name, help=f"{name} credits")
        p.add_argument("user", metavar="USER", help="user id or email")
        p.add_argument("amount", type=_positive, metavar="AMOUNT")
        p.add_argument("--reason", required=True, type=_text, help="why (kept in the ledger)")
        p.add_argument("--by", default=_os_user(), type=_text, help="who (default: the OS user)")
        p.set_defaults(run=cmd_credits, sign=sign)

    refund = commands.add_parser("refund", help="goodwill refund of a succeeded generation whose video was lost")
    refund.add_argument("generation", metavar="GENERATION", type=_uuid)
    refund.add_argument("--reason", required=True, type=_text)
    refund.add_argument("--by", default=_os_user(), type=_text)
    refund.set_defaults(run=cmd_refund)

    stats = commands.add_parser("stats", help="the seed's four metrics against their targets")
    stats.add_argument("--since", default="24h", type=_duration, help="window: 30m, 24h, 7d, 2w (default 24h)")
    stats.add_argument("--json", action="store_true", help="machine-readable output")
    stats.set_defaults(run=cmd_stats)

    role = commands.add_parser("admin", help="give or take the admin console's role (app_metadata.role)")
    role_actions = role.add_subparsers(dest="admin_command", required=True)
    for name, grant in (("grant", True), ("revoke", False)):
        p = role_actions.add_parser(name, help=f"{name} the admin role (Supabase's admin API, or the local auth)")
        p.add_argument("email", metavar="EMAIL")
        p.add_argument("--reason", default=None, type=_text)
        p.add_argument("--by", default=_os_user(), type=_text)
        p.set_defaults(run=cmd_admin_role, grant=grant)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (a bare container): say so rather than guess
        return "unknown"


MAX_CREDITS = 2 ** 31 - 1  # the ledger's integer


def _positive(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) <= MAX_CREDITS:
        raise argparse.ArgumentTypeError(f"must be a whole number of credits from 1 to {MAX_CREDITS}, not {value!r}")
    return int(value)


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a generation id") from None


def _text(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value.strip()


def _duration(value: str) -> timedelta:
    from shared.admin import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _backend(command: str):
    from shared.db import PostgresBackend, SupabaseBackend
    from wan_local.dev import NO_DATA, with_local_stack

    settings = get_settings()
    if settings.database_url:
        # An operator waits for a report over the whole history (stats), not a request's 10 s.
        return PostgresBackend(settings.database_url, max_size=1, statement_timeout=600)
    if settings.supabase_url and settings.supabase_service_role_key:
        return SupabaseBackend.connect(settings.supabase_url, settings.supabase_service_role_key)
    local = with_local_stack(settings, command)  # the running `wan-api dev` of the data directory
    if local is None:
        print(f"wan-api {command}: {NO_DATA}", file=sys.stderr)
        raise SystemExit(2)
    return PostgresBackend(local.database_url, max_size=1)


def _run(action, command: str) -> int:
    """Call the database; an ApiError becomes one line on stderr and exit 1."""
    backend = _backend(command)
    try:
        return action(backend)
    except errors.InsufficientCredits as exc:  # its detail speaks to the user ("you have"): say it to the operator
        print(f"wan-api {command}: the user has {exc.extra['balance']} credits, fewer than "
              f"{exc.extra['required']}: the balance cannot go below 0", file=sys.stderr)
        return 1
    except errors.ApiError as exc:
        print(f"wan-api {command}: {exc.detail}", file=sys.stderr)
        return 1
    finally:
        backend.close()


def _user_id(backend, query: str) -> str:
    return admin.find_user_id(backend, query)


def cmd_user_find(args: argparse.Namespace) -> int:
    def action(backend) -> int:
        print(format_user(backend.call("find_user", p_query=args.query)))
        return 0
    return _run(action, "user find")


def format_user(u: dict) -> str:
    lines = [f"user     {u['user_id']}", f"email    {u['email']}", f"balance  {u['balance']} credits",
             f"active   {u['active_generations']} generations", f"since    {u['created_at']}", "",
             "last generations:"]
    for g in u["generations"]:
        flags = " ".join(f for f, on in (("refunded", g["refunded"]), ("video-lost", g["video_lost"]),
                                         ("expired", g["expired"]), ("deleted", g["deleted"])) if on)
        lines.append(f"  {g['created_at'][:19]}  {g['generation_id']}  {g['model']:<9} {g['resolution']:<5} "
                     f"{g['status']:<10} {g['cost']:>3}  {flags}".rstrip())
    lines += ["", "last ledger rows:"]
    for t in u["transactions"]:
        by = f"  (by {t['actor']})" if t["actor"] else ""
        lines.append(f"  {t['created_at'][:19]}  {t['type']:<12} {t['amount']:>+6} -> {t['balance_after']:>6}  "
                     f"{t['description'] or ''}{by}")
    return "\n".join(lines)


def cmd_credits(args: argparse.Namespace) -> int:
    def action(backend) -> int:
        row = admin.adjust_credits(backend, admin.Admin(args.by), _user_id(backend, args.user),
                                   args.sign * args.amount, args.reason)
        verb = "granted" if args.sign > 0 else "deducted"
        print(f"{verb} {args.amount} credits to user {row['user_id']}: balance {row['balance_after']} "
              f"(ledger row {row['id']}, by {row['actor']}: {row['description']})")
        return 0
    return _run(action, f"credits {args.credits_command}")


def cmd_refund(args: argparse.Namespace) -> int:
    def action(backend) -> int:
        row = admin.goodwill_refund(backend, admin.Admin(args.by), args.generation, args.reason)
        print(f"refunded {row['amount']} credits to user {row['user_id']} for generation {row['generation_id']}: "
              f"balance {row['balance_after']} (ledger row {row['id']}, by {row['actor']})")
        return 0
    return _run(action, "refund")


def cmd_stats(args: argparse.Namespace) -> int:
    from shared.metrics import stats_table

    def action(backend) -> int:
        stats = admin.stats(backend, admin.since_ago(args.since))  # GET /admin/stats's very document
        print(json.dumps(stats) if args.json else stats_table(stats, _window(args.since)))
        return 0
    return _run(action, "stats")


def cmd_admin_role(args: argparse.Namespace) -> int:
    def action(backend) -> int:
        done = admin.set_role(get_settings(), backend, admin.Admin(args.by), args.email, args.grant, args.reason)
        verb = "is now an admin" if args.grant else "is no longer an admin"
        print(f"{done['email']} ({done['user_id']}) {verb}; it takes effect in their next access token")
        return 0
    return _run(action, f"admin {'grant' if args.grant else 'revoke'}")


def _window(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g} h" if hours < 48 else f"{hours / 24:g} days"
