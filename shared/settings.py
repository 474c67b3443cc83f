"""Settings from the environment (a `.env` file may supply them), named as in the contract."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDERS = {"changeme", "change-me", "secret", "your-secret", "xxx", "todo"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    database_url: str | None = None
    supabase_url: str | None = None
    supabase_service_role_key: str | None = None
    supabase_jwt_secret: str | None = None
    replicate_api_token: str | None = None
    replicate_base_url: str = "https://api.replicate.com"
    replicate_webhook_secret: str | None = None
    webhook_url: str | None = None
    allowed_origins: str = "*"
    wan_data_dir: str = "./.wan-data"
    storage_bucket: str = "wan-media"
    sweep_interval_seconds: int = Field(60, ge=1)
    stuck_after_seconds: int = Field(600, ge=1)
    queued_timeout_seconds: int = Field(600, ge=1)
    deadline_seconds: int = Field(2700, ge=60)
    max_active_generations: int = Field(3, ge=1)
    # Stored videos and uploaded images are deleted this many days after their generation finished.
    retention_days: int = Field(30, ge=1)
    # Bearer token for GET /metrics; unset: /metrics answers 404.
    metrics_token: str | None = None
    # How long a create may wait on Replicate before it is failed and refunded.
    replicate_timeout_seconds: float = Field(20.0, gt=0)
    # Local stack only: the base URL our signed file links point at.
    public_base_url: str | None = None

    @field_validator("supabase_jwt_secret", "replicate_webhook_secret", "supabase_service_role_key",
                     "replicate_api_token", "metrics_token")
    @classmethod
    def _no_placeholder(cls, value: str | None) -> str | None:
        if value is not None and value.strip().lower() in _PLACEHOLDERS:
            raise ValueError("is a placeholder; set the real secret")
        return value or None

    @property
    def origins(self) -> list[str]:
        return [o.strip() for o in self.allowed_origins.split(",") if o.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
