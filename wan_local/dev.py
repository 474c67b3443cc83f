"""The local stack (`wan-api dev`): every endpoint on one port, an embedded Postgres unless
DATABASE_URL is set, the Replicate emulator unless REPLICATE_API_TOKEN is set, local file storage,
/dev/signup, and the sweeper on a timer. The tests run this same stack.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import socket
import threading
import time
from pathlib import Path

import uvicorn
from fastapi import APIRouter, FastAPI

from functions import account, generation_status, image_to_video, replicate_webhook, text_to_video
from shared.app import create_app
from shared.replicate_provider import ReplicateProvider
from shared.services import Services
from shared.settings import Settings
from shared.storage import LocalStorage
from shared.db import PostgresBackend
from wan_local import dev_routes
from wan_local.embedded_pg import EmbeddedPostgres, free_port
from wan_local.migrate import BOOTSTRAP_NOTE, bootstrap_if_plain, migrate
from wan_local.replicate_emulator import ReplicateEmulator


class ThreadedServer:
    """A uvicorn server in a background thread, for the API and the emulator alike."""

    def __init__(self, app: FastAPI, host: str, port: int):
        self.host, self.port = host, port or free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=self.port, log_level="warning",
                                                    access_log=False, timeout_graceful_shutdown=5))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> "ThreadedServer":
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on {self.host}:{self.port} did not start (is the port in use?)")
            time.sleep(0.02)
        return self

    @staticmethod
    def stop_all(servers: list["ThreadedServer"]) -> None:
        for server in servers:  # ask all first: each takes a tick of its loop to notice
            server.server.should_exit = True
        for server in servers:
            server.thread.join(timeout=10)


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no obstacle
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _local_secrets(data_dir: Path) -> dict:
    """Secrets the local stack makes up once and keeps, so tokens survive a restart."""
    path = data_dir / "local-secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    made = {"jwt_secret": secrets.token_urlsafe(32),
            "webhook_secret": "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
            "storage_secret": secrets.token_urlsafe(32)}
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(made))
    path.chmod(0o600)
    return made


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
        secret = _local_secrets(Path(settings.wan_data_dir).resolve())["storage_secret"].encode()
        services = Services(
            settings=settings, backend=PostgresBackend(settings.database_url),
            provider=ReplicateProvider(settings.replicate_api_token, settings.replicate_base_url,
                                       timeout_seconds=settings.replicate_timeout_seconds),
            storage=LocalStorage(Path(settings.wan_data_dir) / "storage", base, secret))
    services.start_video_copy = lambda generation_id: copy_video(services, generation_id)
    return services


class DevStack:
    def __init__(self, settings: Settings, *, host: str = "127.0.0.1", port: int = 8000,
                 sweep: bool = True, db_role: str | None = None):
        self.db_role = db_role  # tests: act as service_role, so the migrations' grants are exercised
        self.host, self.port = host, port or free_port()
        self.data_dir = Path(settings.wan_data_dir).resolve()
        self.postgres: EmbeddedPostgres | None = None
        self.emulator: ReplicateEmulator | None = None
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
        })

    @property
    def url(self) -> str:
        return self.settings.public_base_url

    def start(self) -> "DevStack":
        settings = self.settings
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
        self.settings = settings.model_copy(update={"database_url": database_url})
        storage = LocalStorage(self.data_dir / "storage", self.url, self.local_secrets["storage_secret"].encode())
        self.services = Services(
            settings=self.settings,
            backend=PostgresBackend(database_url, role=self.db_role),
            provider=ReplicateProvider(self.settings.replicate_api_token, self.settings.replicate_base_url,
                                       timeout_seconds=self.settings.replicate_timeout_seconds),
            storage=storage,
        )
        self.app = create_app(*self.routers(), services=self.services)
        self.servers.append(ThreadedServer(self.app, self.host, self.port).start())
        if self.sweep_enabled:
            threading.Thread(target=self._sweep_forever, name="sweeper", daemon=True).start()
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
        server = ThreadedServer(self.emulator.app, "127.0.0.1", last if last and _port_is_free(last) else 0).start()
        port_file.write_text(str(server.port))
        self.servers.append(server)
        self.emulator.base_url = f"http://127.0.0.1:{server.port}"
        self.emulator.resume()

    def _sweep_forever(self) -> None:
        """The local stand-in for the Modal cron: one sweep every SWEEP_INTERVAL_SECONDS."""
        from shared.sweep import sweep

        while not self._stop.wait(self.settings.sweep_interval_seconds):
            try:
                sweep(self.services)
            except Exception:  # noqa: BLE001 - a failed sweep is logged; the next one tries again
                logging.getLogger(__name__).exception("sweep failed")

    def routers(self) -> list[APIRouter]:
        return [
            text_to_video.router(), image_to_video.router(), generation_status.router(),
            replicate_webhook.router(), account.router(), dev_routes.router(self),
        ]

    def banner(self) -> list[str]:
        db = "embedded Postgres" if self.postgres else "DATABASE_URL"
        replicate = f"emulator at {self.emulator.base_url}" if self.emulator else self.settings.replicate_base_url
        lines = [
            f"database:   {db} ({self.settings.database_url})",
            *([f"bootstrap:  {BOOTSTRAP_NOTE}"] if self.bootstrapped else []),
            f"migrations: {', '.join(self.applied) or 'none pending'}",
            f"replicate:  {replicate}",
            f"webhook:    {self.settings.webhook_url}",
            f"sweeper:    every {self.settings.sweep_interval_seconds} s" if self.sweep_enabled else "sweeper:    off",
            "endpoints:",
        ]
        for path, operations in self.app.openapi()["paths"].items():
            for method in operations:
                lines.append(f"  {method.upper():<5} {self.url}{path}")
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
