"""The local stack: embedded Postgres (unless DATABASE_URL), migrations, and (later) the endpoints."""

from __future__ import annotations

from pathlib import Path

from shared.settings import Settings
from wan_local.embedded_pg import EmbeddedPostgres
from wan_local.migrate import apply_bootstrap, migrate


class DevStack:
    def __init__(self, settings: Settings, *, host: str = "127.0.0.1", port: int = 8000):
        self.settings = settings
        self.host, self.port = host, port
        self.postgres: EmbeddedPostgres | None = None
        self.database_url = settings.database_url
        self.applied: list[str] = []

    def start(self) -> None:
        if not self.database_url:
            self.postgres = EmbeddedPostgres(Path(self.settings.wan_data_dir) / "postgres").start()
            self.database_url = self.postgres.url()
            apply_bootstrap(self.database_url)  # a local server only: Supabase has all of this
        self.applied = migrate(self.database_url)

    def banner(self) -> list[str]:
        where = "embedded Postgres" if self.postgres else "DATABASE_URL"
        return [
            f"database: {where} at {self.database_url}",
            f"migrations applied now: {', '.join(self.applied) or 'none pending'}",
            "ready (Ctrl-C to stop)",
        ]

    def stop(self) -> None:
        if self.postgres:
            self.postgres.stop()
