"""`wan-api`: the local stack and the operator's commands (contract section 1)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from importlib.metadata import PackageNotFoundError, version

from shared import settings as settings_module
from shared.logs import configure_logging
from shared.settings import SettingsError, get_settings
from wan_local.doctor import add_command as add_doctor_command
from wan_local.operator_cli import add_commands as add_operator_commands

DEV_HELP = """\
Applies pending migrations, then serves every endpoint on one port, runs the sweeper every
SWEEP_INTERVAL_SECONDS (default 60), and prints the URLs. Ctrl-C or SIGTERM stops it.

Needs nothing by default. Settings (environment or .env):
  DATABASE_URL          unset: an embedded Postgres kept under WAN_DATA_DIR
  REPLICATE_API_TOKEN   unset: a built-in Replicate emulator (set it for the real Replicate, with a
                        public WEBHOOK_URL for Replicate to call back)
  WAN_DATA_DIR          database, stored files and made-up local secrets;
                        default: .wan-data in the project directory, whatever the current directory
  WAN_EMULATOR_RUN_SECONDS  how long one emulated run takes (progress every 5 %); default 20
One stack per WAN_DATA_DIR: a second one refuses and names the first."""

MIGRATE_HELP = """\
Applies the pending files of migrations/ to DATABASE_URL, in order, each once in its own
transaction, and records each in wan_private.schema_migrations; prints {"applied": [...]}.
Safe to run again. Refuses when an applied file was edited since (see --accept-changed).

Needs: DATABASE_URL (for Supabase: Connect -> Session pooler, or the direct connection string)."""

SWEEP_HELP = """\
Runs one sweep now (what the Modal cron runs every 5 minutes): times out, fails and refunds stuck
generations, asks Replicate about silent ones, copies finished videos. Prints the counts as JSON
on the last line. Safe to run while the cron runs.

Needs: REPLICATE_API_TOKEN, and the data: DATABASE_URL, or SUPABASE_URL with
SUPABASE_SERVICE_ROLE_KEY (videos are then copied to Supabase Storage); with neither, the
running `wan-api dev` of WAN_DATA_DIR (its database and its Replicate emulator). The thresholds are
STUCK_AFTER_SECONDS (600), QUEUED_TIMEOUT_SECONDS (600) and DEADLINE_SECONDS (2700)."""


def fail(command: str, message: str, code: int = 1) -> int:
    """One line on stderr, no traceback: what went wrong and what to do."""
    print(f"wan-api {command}: {message}", file=sys.stderr)
    return code


def cmd_migrate(args: argparse.Namespace) -> int:
    from wan_local.migrate import BOOTSTRAP_NOTE, MigrationError, bootstrap_if_plain, changed_migrations, migrate

    url = get_settings().database_url
    if not url:
        return fail("migrate", "set DATABASE_URL to the database to migrate", 2)
    try:
        if bootstrap_if_plain(url):
            print(f"wan-api migrate: {BOOTSTRAP_NOTE}", file=sys.stderr)
        accepted = changed_migrations(url) if args.accept_changed else []
        applied = migrate(url, accept_changed=args.accept_changed)
    except MigrationError as exc:
        return fail("migrate", str(exc))
    print(json.dumps({"applied": applied, **({"accepted_changed": accepted} if accepted else {})}))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """One sweep now; its counts as JSON on the last line."""
    from shared.sweep import sweep
    from wan_local.dev import NO_DATA, operator_services, with_local_stack

    settings = get_settings()
    has_data = settings.database_url or (settings.supabase_url and settings.supabase_service_role_key)
    if not has_data:  # the running `wan-api dev` of the data directory, with its emulator
        settings = with_local_stack(settings, "sweep")
        if settings is None:
            return fail("sweep", NO_DATA, 2)
    if not settings.replicate_api_token:
        return fail("sweep", "set REPLICATE_API_TOKEN: the sweep asks Replicate about silent generations", 2)
    services = operator_services(settings)
    try:
        print(json.dumps(sweep(services)))
    finally:
        services.close()
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from wan_local.dev import DataDirUnusable, DevStack
    from wan_local.embedded_pg import DataDirInUse
    from wan_local.migrate import MigrationError

    if not 0 <= args.port <= 65535:
        return fail("dev", f"--port {args.port} is not a port: use 1 to 65535, or 0 for a free one", 2)
    try:
        stack = DevStack(get_settings(), host=args.host, port=args.port)
    except DataDirUnusable as exc:
        return fail("dev", str(exc), 2)
    except DataDirInUse as exc:
        return fail("dev", f"{exc}: stop that stack first, or set WAN_DATA_DIR to another directory")
    except RuntimeError as exc:  # no place for the data, or one the database cannot use
        return fail("dev", str(exc))
    try:
        stack.start()
    except MigrationError as exc:
        stack.stop()
        start_over = f" (or, for the local database, delete {stack.data_dir} to start over)" if stack.postgres else ""
        return fail("dev", f"{exc}{start_over}")
    except RuntimeError as exc:  # a busy port or data directory, a database that would not start
        stack.stop()
        return fail("dev", str(exc))
    except KeyboardInterrupt:  # Ctrl-C while starting: stop what started, quietly
        stack.stop()
        return 130
    except BaseException:
        stack.stop()
        raise
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    try:
        for line in stack.banner():
            print(line, flush=True)
        stopped.wait()
    finally:
        print("stopping…", flush=True)
        stack.stop()
    return 0


def _version() -> str:
    try:
        return version("wan-video-api")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="wan-api", description="Wan Video API: local stack and operations")
    parser.add_argument("--version", action="version", version=f"wan-api {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    dev = commands.add_parser("dev", help="run every endpoint locally on one port", description=DEV_HELP,
                              formatter_class=raw)
    dev.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    dev.add_argument("--port", type=int, default=8000, help="port to listen on; 0 picks a free one "
                                                            "(default: %(default)s)")
    dev.set_defaults(run=cmd_dev)
    migrate = commands.add_parser("migrate", help="apply pending migrations to DATABASE_URL",
                                  description=MIGRATE_HELP, formatter_class=raw)
    migrate.add_argument("--accept-changed", action="store_true",
                         help="an applied file was edited on purpose (e.g. a comment): record its new "
                              "checksum without running it again")
    migrate.set_defaults(run=cmd_migrate)
    commands.add_parser("sweep", help="run one sweep of stuck generations now", description=SWEEP_HELP,
                        formatter_class=raw).set_defaults(run=cmd_sweep)
    add_operator_commands(commands)
    add_doctor_command(commands)
    args = parser.parse_args(argv)
    configure_logging()  # from the first line on, every log line is JSON (uvicorn's included)
    settings_module.LOG_BAD_SETTINGS = False  # a bad setting is fail()'s one line below, not also a log line
    try:
        return args.run(args)
    except SettingsError as exc:  # one line, no traceback (contract section 1)
        return fail(args.command, str(exc), 2)
    finally:
        settings_module.LOG_BAD_SETTINGS = True


if __name__ == "__main__":
    sys.exit(main())
