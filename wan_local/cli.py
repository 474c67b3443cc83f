"""`wan-api`: the local stack and the operator's commands (contract section 1)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from shared.settings import get_settings
from wan_local.operator_cli import add_commands as add_operator_commands


def cmd_migrate(args: argparse.Namespace) -> int:
    from wan_local.migrate import migrate

    url = get_settings().database_url
    if not url:
        print("wan-api migrate: set DATABASE_URL to the database to migrate", file=sys.stderr)
        return 2
    applied = migrate(url)
    print(json.dumps({"applied": applied}))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """One sweep now; its counts as JSON on the last line."""
    from shared.sweep import sweep
    from wan_local.dev import operator_services

    settings = get_settings()
    if not settings.database_url or not settings.replicate_api_token:
        print("wan-api sweep: set DATABASE_URL and REPLICATE_API_TOKEN (the sweep asks Replicate)", file=sys.stderr)
        return 2
    services = operator_services(settings)
    try:
        print(json.dumps(sweep(services)))
    finally:
        services.close()
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from wan_local.dev import DevStack

    stack = DevStack(get_settings(), host=args.host, port=args.port)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    try:
        stack.start()
        for line in stack.banner():
            print(line, flush=True)
        stopped.wait()
    finally:
        print("stopping…", flush=True)
        stack.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wan-api", description="Wan Video API: local stack and operations")
    commands = parser.add_subparsers(dest="command", required=True)
    dev = commands.add_parser("dev", help="run every endpoint locally on one port")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000)
    dev.set_defaults(run=cmd_dev)
    commands.add_parser("migrate", help="apply pending migrations to DATABASE_URL").set_defaults(run=cmd_migrate)
    commands.add_parser("sweep", help="run one sweep of stuck generations now").set_defaults(run=cmd_sweep)
    add_operator_commands(commands)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
