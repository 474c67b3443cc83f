"""The local stack (`wan-api dev`): every endpoint on one port, an embedded Postgres unless
DATABASE_URL is set, the Replicate emulator unless REPLICATE_API_TOKEN is set, the Stripe emulator
unless STRIPE_SECRET_KEY is set, local file storage,
/dev/signup, and the sweeper on a timer. The tests run this same stack.
"""

from __future__ import annotations

import base64
import errno
import json
import logging
import os
import secrets
import socket
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from fastapi import APIRouter, FastAPI

from shared.app import create_app
from shared.replicate_provider import ReplicateProvider
from shared.services import Services, postgres_backend
from shared.settings import Settings
from shared.storage import LocalStorage
from wan_local import dev_routes
from wan_local.docs import serve_docs
from wan_local.openapi import production_routers, serve_with_functions
from wan_local.embedded_pg import DataDirLock, EmbeddedPostgres, make_dirs
from wan_local.migrate import BOOTSTRAP_NOTE, bootstrap_if_plain, migrate
from wan_local.replicate_emulator import ReplicateEmulator
from wan_local.stripe_emulator import StripeEmulator


class _ContractH11Protocol(H11Protocol):
    """uvicorn's own answer to a request it cannot parse as HTTP (it never reaches the app), in the
    contract's shape instead of a line of plain text."""

    def send_400_response(self, msg: str) -> None:
        body = json.dumps({"detail": f"The request is not valid HTTP: {msg.rstrip('.').lower()}.",
                           "code": "malformed_request"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()


class PortInUse(RuntimeError):
    pass


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound now: a busy port is known before anything else starts."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    try:
        sock = socket.create_server((host, port), family=family)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(f"port {port} on {host} is in use: choose another with --port "
                            f"(--port 0 picks a free one)") from None
        raise
    # create_server makes the socket with proto 0, and asyncio sets TCP_NODELAY only on accepted
    # sockets whose proto is IPPROTO_TCP: without this, Nagle held every answer after the first on a
    # kept-alive connection for the client's delayed ACK, ~40 ms (docs/benchmarks.md). Accepted
    # sockets inherit it from the listening one.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class ThreadedServer:
    """A uvicorn server in a background thread, for the API and the emulator alike."""

    def __init__(self, app: FastAPI, host: str, port: int, sock: socket.socket | None = None):
        self.sock = sock or bind(host, port)
        self.host, self.port = host, self.sock.getsockname()[1]
        # log_config=None: uvicorn's own errors go through our JSON handler, not its text one.
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=self.port, log_level="warning",
                                                    log_config=None, access_log=False,
                                                    timeout_graceful_shutdown=5, http=_ContractH11Protocol))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> "ThreadedServer":
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on {self.host}:{self.port} did not start")
            time.sleep(0.02)
        return self

    @staticmethod
    def stop_all(servers: list["ThreadedServer"]) -> None:
        for server in servers:  # ask all first: each takes a tick of its loop to notice
            server.server.should_exit = True
        for server in servers:
            server.thread.join(timeout=10)
            server.sock.close()


PROJECT_DIR = Path(__file__).resolve().parent.parent


class DataDirUnusable(RuntimeError):
    """WAN_DATA_DIR cannot be made or written."""


def local_data_dir(settings: Settings) -> Path:
    """WAN_DATA_DIR as given (relative to the current directory, as a shell path is); unset, the
    project's own `.wan-data`, whatever directory the command runs from."""
    if "wan_data_dir" in settings.model_fields_set:
        return Path(settings.wan_data_dir).expanduser().resolve()
    if not (PROJECT_DIR / "pyproject.toml").exists():  # installed, not run from a clone: no project
        raise RuntimeError("set WAN_DATA_DIR: there is no project directory to keep the local data in")
    return PROJECT_DIR / ".wan-data"


def _local_secrets(data_dir: Path) -> dict:
    """Secrets the local stack makes up once and keeps, so tokens survive a restart."""
    path = data_dir / "local-secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    made = {"jwt_secret": secrets.token_urlsafe(32),
            "webhook_secret": "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
            "storage_secret": secrets.token_urlsafe(32)}
    make_dirs(data_dir)
    # Written under a private mode from the first byte: a secret never sits world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(made))
    return made


def local_stack(settings: Settings) -> dict | None:
    """The running `wan-api dev` of the data directory, as its dev.lock records it; None if none."""
    try:
        owner = json.loads((local_data_dir(settings) / "dev.lock").read_text())
    except (RuntimeError, OSError, ValueError):
        return None
    if not owner.get("database_url") or owner.get("stopped"):
        return None  # still starting, or stopped
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:  # killed without stopping: its lock went with it
        return None
    except PermissionError:  # alive, another user's
        pass
    return owner


NO_DATA = ("set DATABASE_URL (or SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY), or start the local stack "
           "first (scripts/dev, or wan-api dev)")


def with_local_stack(settings: Settings, command: str) -> Settings | None:
    """For an operator command with no database configured: `settings` pointed at the running local
    stack (its database, its Replicate emulator, its URLs), after one line on stderr saying so; None
    when no local stack runs."""
    owner = local_stack(settings)
    if owner is None:
        return None
    print(f"wan-api {command}: no DATABASE_URL, so using the local stack of {local_data_dir(settings)} "
          f"(wan-api dev, pid {owner['pid']}, {owner['url']})", file=sys.stderr)
    update = {"database_url": owner["database_url"], "public_base_url": owner["url"],
              "wan_data_dir": str(local_data_dir(settings))}
    if owner.get("replicate_api_token"):  # its emulator: the predictions the stack made are there
        update |= {"replicate_api_token": owner["replicate_api_token"],
                   "replicate_base_url": owner["replicate_base_url"]}
    return settings.model_copy(update=update)


def _replicate_secret(settings: Settings) -> str:
    """The account's webhook signing secret (GET /v1/webhooks/default/secret)."""
    import replicate

    client = replicate.Client(api_token=settings.replicate_api_token, base_url=settings.replicate_base_url)
    return client.webhooks.default.secret().key


def operator_services(settings: Settings) -> Services:
    """Services for a one-off command (`wan-api sweep`): Supabase storage when configured, else the
    local directory; video copies run inline, since the process ends when the command does."""
    from shared.services import build_services
    from shared.video_copy import copy_video

    if settings.supabase_url and settings.supabase_service_role_key:
        services = build_services(settings)
    else:
        base = settings.public_base_url or "http://127.0.0.1:8000"
        data_dir = local_data_dir(settings)
        secret = _local_secrets(data_dir)["storage_secret"].encode()
        services = Services(
            settings=settings, backend=postgres_backend(settings),
            provider=ReplicateProvider(settings.replicate_api_token, settings.replicate_base_url,
                                       timeout_seconds=settings.replicate_timeout_seconds),
            storage=LocalStorage(data_dir / "storage", base, secret))
    services.start_video_copy = lambda generation_id: copy_video(services, generation_id)
    return services


class DevStack:
    def __init__(self, settings: Settings, *, host: str = "127.0.0.1", port: int = 8000,
                 sweep: bool = True, db_role: str | None = None):
        self.db_role = db_role  # tests: act as service_role, so the migrations' grants are exercised
        self.host = host
        self.data_dir = local_data_dir(settings)
        # Before anything else: a busy port makes nothing (not even the data directory), and a
        # second stack on the same data stops here, having changed nothing.
        self.api_socket: socket.socket | None = bind(host, port)
        self.port = self.api_socket.getsockname()[1]
        try:
            try:
                make_dirs(self.data_dir)
                self.lock = DataDirLock(self.data_dir / "dev.lock").acquire(port=self.port)
            except OSError as exc:  # /proc/nope, a read-only disk, a file where a directory should be
                raise DataDirUnusable(f"cannot keep the local data in {self.data_dir} ({exc.strerror}): "
                                      f"set WAN_DATA_DIR to a directory you can write") from None
        except BaseException:
            self.api_socket.close()
            raise
        self.postgres: EmbeddedPostgres | None = None
        self.emulator: ReplicateEmulator | None = None
        self.stripe: StripeEmulator | None = None
        self.servers: list[ThreadedServer] = []
        self.applied: list[str] = []
        self.bootstrapped = False
        self.sweep_enabled = sweep
        self._stop = threading.Event()
        self.settings = self._complete(settings)
        self.services: Services | None = None

    def _complete(self, settings: Settings) -> Settings:
        """Fill what production would configure with local values (contract section 1 defaults)."""
        made = self.local_secrets = _local_secrets(self.data_dir)
        link_host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        base = f"http://{link_host}:{self.port}"
        # Against the real Replicate the signing secret is the account's (fetched in start());
        # the emulator signs with one made up here.
        webhook_secret = settings.replicate_webhook_secret or (
            None if settings.replicate_api_token else made["webhook_secret"])
        return settings.model_copy(update={
            "supabase_jwt_secret": settings.supabase_jwt_secret or made["jwt_secret"],
            "replicate_webhook_secret": webhook_secret,
            "webhook_url": settings.webhook_url or f"{base}/webhooks/replicate",
            "public_base_url": settings.public_base_url or base,
            # Receivers on this machine (a developer's local server) may get webhooks here.
            "webhook_allow_loopback": True if settings.webhook_allow_loopback is None else settings.webhook_allow_loopback,
        })

    @property
    def url(self) -> str:
        return self.settings.public_base_url

    def start(self) -> "DevStack":
        settings = self.settings
        api_socket = self.api_socket  # bound in __init__: a busy port started nothing
        database_url = settings.database_url
        if not database_url:
            self.postgres = EmbeddedPostgres(self.data_dir / "postgres").start()
            database_url = self.postgres.url()
        self.bootstrapped = bootstrap_if_plain(database_url)  # a plain Postgres only: Supabase has all of this
        self.applied = migrate(database_url)
        if not settings.replicate_api_token:
            self._start_emulator(settings)
            settings = settings.model_copy(update={"replicate_api_token": "r8_local_emulator",
                                                   "replicate_base_url": self.emulator.base_url})
        elif not settings.replicate_webhook_secret:
            settings = settings.model_copy(update={"replicate_webhook_secret": _replicate_secret(settings)})
        if not settings.stripe_secret_key:
            settings = self._start_stripe_emulator(settings)
        self.settings = settings.model_copy(update={"database_url": database_url})
        storage = LocalStorage(self.data_dir / "storage", self.url, self.local_secrets["storage_secret"].encode())
        self.services = Services(
            settings=self.settings,
            backend=postgres_backend(self.settings, role=self.db_role),
            provider=ReplicateProvider(self.settings.replicate_api_token, self.settings.replicate_base_url,
                                       timeout_seconds=self.settings.replicate_timeout_seconds),
            storage=storage,
        )
        self.app = create_app(*self.routers(), services=self.services, docs_url=None)
        serve_with_functions(self.app)
        serve_docs(self.app)  # offline: Swagger UI from the installed wheel, not a CDN
        self.servers.append(ThreadedServer(self.app, self.host, self.port, api_socket).start())
        if self.sweep_enabled:
            threading.Thread(target=self._sweep_forever, name="sweeper", daemon=True).start()
        # What the operator's commands need to use this stack (local_stack below); the file is 0600.
        self.lock.update(port=self.port, url=self.url, database_url=self.settings.database_url,
                         replicate_api_token=self.settings.replicate_api_token if self.emulator else None,
                         replicate_base_url=self.settings.replicate_base_url)
        return self

    def _start_emulator(self, settings: Settings) -> None:
        """The Replicate emulator, keeping its predictions in the data directory: after a restart it
        knows them and finishes the unfinished ones. It takes the port it had last time when that is
        free, so the output URLs already recorded stay valid."""
        state = self.data_dir / "replicate-emulator"
        self.emulator = ReplicateEmulator(settings.replicate_webhook_secret, state_dir=state)
        self.emulator.behaviour.run_seconds = settings.wan_emulator_run_seconds
        port_file = state / "port"
        last = int(port_file.read_text()) if port_file.exists() else 0
        try:
            sock = bind("127.0.0.1", last) if last else None
        except PortInUse:
            sock = None  # taken by now: any free port (predictions still finish, reached at the new one)
        server = ThreadedServer(self.emulator.app, "127.0.0.1", 0, sock=sock).start()
        port_file.write_text(str(server.port))
        self.servers.append(server)
        self.emulator.base_url = f"http://127.0.0.1:{server.port}"
        self.emulator.resume()

    def _start_stripe_emulator(self, settings: Settings) -> Settings:
        """The local Stripe: sessions, the checkout page, and events signed for our webhook."""
        # Its sessions live in memory only, so its signing secret need not outlive the process.
        self.stripe = StripeEmulator(settings.stripe_webhook_secret, webhook_url=f"{self.url}/webhooks/stripe")
        server = ThreadedServer(self.stripe.app, "127.0.0.1", 0).start()
        self.servers.append(server)
        self.stripe.base_url = f"http://127.0.0.1:{server.port}"
        # Back to the web client, whose page confirms with GET /checkout/status (as a frontend does).
        client = f"{self.url}/web/"
        return settings.model_copy(update={
            "stripe_secret_key": "sk_test_local_emulator", "stripe_webhook_secret": self.stripe.webhook_secret,
            "stripe_api_base": self.stripe.base_url,
            "checkout_success_url": settings.checkout_success_url or client + "?session_id={CHECKOUT_SESSION_ID}",
            "checkout_cancel_url": settings.checkout_cancel_url or client + "?checkout=canceled",
        })

    def _sweep_forever(self) -> None:
        """The local stand-in for the Modal cron: one sweep every SWEEP_INTERVAL_SECONDS."""
        from shared.sweep import sweep

        while not self._stop.wait(self.settings.sweep_interval_seconds):
            try:
                sweep(self.services)
            except Exception:  # noqa: BLE001 - a failed sweep is logged; the next one tries again
                logging.getLogger(__name__).exception("sweep failed")

    def routers(self) -> list[APIRouter]:
        return [*production_routers(), dev_routes.router(self)]  # production's, then the local-only ones

    def banner(self) -> list[str]:
        db = "embedded Postgres" if self.postgres else "DATABASE_URL"
        replicate = f"emulator at {self.emulator.base_url}" if self.emulator else self.settings.replicate_base_url
        lines = [
            f"data:       {self.data_dir}",
            f"database:   {db} ({mask_password(self.settings.database_url)})",
            *([f"bootstrap:  {BOOTSTRAP_NOTE}"] if self.bootstrapped else []),
            f"migrations: {', '.join(self.applied) or 'none pending'}",
            f"replicate:  {replicate}",
            f"webhook:    {self.settings.webhook_url}",
            f"stripe:     emulator at {self.stripe.base_url} (checkout pages at /checkout/<session_id>)"
            if self.stripe else f"stripe:     {self.settings.stripe_api_base}",
            f"sweeper:    every {self.settings.sweep_interval_seconds} s" if self.sweep_enabled else "sweeper:    off",
            "endpoints:",
        ]
        for path, operations in self.app.openapi()["paths"].items():
            for method in (m for m in operations if not m.startswith("x-")):
                lines.append(f"  {method.upper():<5} {self.url}{path}")
        lines.append(f"web client: {self.url}/   (open it in a browser: sign up, make a video, buy credits)")
        lines.append(f"docs:       {self.url}/docs")
        lines.append("ready (Ctrl-C to stop)")
        return lines

    def stop(self) -> None:
        self._stop.set()
        if self.emulator:
            self.emulator.close()  # runs stop where they are; the next start carries them on
        ThreadedServer.stop_all(self.servers)
        if self.services:
            self.services.close()
        if self.postgres:
            self.postgres.stop()
        if self.api_socket is not None:
            self.api_socket.close()
        self.lock.update(port=self.port, stopped=True)  # the operator's commands no longer use it
        self.lock.release()


def mask_password(url: str | None) -> str | None:
    """A connection URL fit to print: its password replaced by ***."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
