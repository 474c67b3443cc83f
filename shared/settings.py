"""Settings from the environment (a `.env` file may supply them), named as in the contract."""

from __future__ import annotations

import logging
from functools import lru_cache

from pydantic import Field, ValidationError, field_validator
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
    # Extra hosts (`host` or `host:port`, comma-separated) finished videos may be copied from; see
    # shared/output_urls.py for what is always allowed.
    replicate_output_hosts: str = ""
    webhook_url: str | None = None
    allowed_origins: str = "*"
    wan_data_dir: str = "./.wan-data"
    storage_bucket: str = "wan-media"
    sweep_interval_seconds: int = Field(60, ge=1)
    stuck_after_seconds: int = Field(600, ge=1)
    queued_timeout_seconds: int = Field(600, ge=1)
    deadline_seconds: int = Field(2700, ge=60)
    max_active_generations: int = Field(3, ge=1)
    # Connections one process (one Modal container) keeps to DATABASE_URL at most. Containers x this
    # must stay within the Supabase pooler's client limit: see docs/benchmarks.md, "Scale on paper".
    db_pool_size: int = Field(10, ge=1)
    # A frozen or unreachable database is a quick 503, never a hang: a new connection (startup
    # included), a wait for a free one of the pool, and one call's answer are bounded by these.
    db_connect_timeout_seconds: float = Field(5.0, ge=1, le=300)
    db_pool_timeout_seconds: float = Field(5.0, gt=0, le=300)
    db_statement_timeout_seconds: float = Field(10.0, gt=0, le=600)
    # Per-user limits per minute (fixed windows in Postgres): creates, and every other signed-in call.
    create_rate_per_minute: int = Field(10, ge=1)
    request_rate_per_minute: int = Field(120, ge=1)
    # The whole service's creates per minute (Replicate allows 600 prediction creates a minute).
    max_creates_per_minute: int = Field(600, ge=1)
    # How long a container trusts a verified API key before asking the database again: a revoked key
    # stops working everywhere within this time (at once in the container that revoked it). 0: never cached.
    api_key_cache_seconds: float = Field(30.0, ge=0)
    # Server-side key of the HMAC that API keys are stored under (shared/api_keys.py); kept out of the
    # database. Set it once, before keys are issued: changing it invalidates every key made under the old one.
    api_key_pepper: str | None = None
    # Stored videos and uploaded images are deleted this many days after their generation finished.
    retention_days: int = Field(30, ge=1)
    # Retention keeps the stored files of favorites (issue 25) while this is on.
    keep_favorites: bool = True
    # Share links: the base URL a link starts with (`<base>/s/<id>`), the account function's URL on
    # Modal. Unset: PUBLIC_BASE_URL locally, else the account URL named like WEBHOOK_URL's function.
    share_base_url: str | None = None
    # Public (no sign-in) requests per client address per minute, per container: the share pages.
    public_rate_per_minute: int = Field(60, ge=1)
    # The most POST /generations/download streams in one zip: what a client at ~4 MB/s receives
    # within Modal's 150 s request limit (README "Bulk download"); a larger one is a 422.
    download_max_bytes: int = Field(600 * 1024 * 1024, ge=1)
    # Users' webhooks (contract section 3): `http` and loopback hosts allowed (`wan-api dev` turns it
    # on; unset counts as off), and how many deliveries of one user may be in flight at once.
    webhook_allow_loopback: bool | None = None
    webhook_max_in_flight: int = Field(4, ge=1, le=100)
    # Bearer token for GET /metrics; unset: /metrics answers 404.
    metrics_token: str | None = None
    # How long a create may wait on Replicate before it is failed and refunded.
    replicate_timeout_seconds: float = Field(20.0, gt=0)
    # Local stack only: how long one run of the Replicate emulator takes (progress moves in 5 % steps).
    wan_emulator_run_seconds: float = Field(20.0, ge=0, le=3600)
    # Local stack only: the base URL our signed file links point at.
    public_base_url: str | None = None
    # Buying credits (contract "Buying credits"). Without a secret key, POST /checkout answers 503
    # and the webhook refuses every delivery: the API can be deployed before it sells anything.
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str = "https://api.stripe.com"
    # Where Stripe sends the browser back; Stripe fills {CHECKOUT_SESSION_ID} in.
    checkout_success_url: str | None = None
    checkout_cancel_url: str | None = None
    # Going live (wan-api doctor, shared/costs.py): credits per variant where they differ from the
    # seed's (`720p=25,t2v-14B:720p=30`), the margin under which the doctor warns, and the URL of our
    # Stripe webhook endpoint when it is not derived from WEBHOOK_URL.
    credit_costs: str = ""
    min_margin: float = Field(0.30, ge=0, lt=1)
    stripe_webhook_url: str | None = None

    # Content policy (shared/moderation.py, README "Content policy"). BLOCKED_TERMS: comma-separated,
    # whole words, case- and accent-insensitive, added to the shipped list.
    blocked_terms: str = ""
    # The hosted classifier (OpenAI's moderation endpoint) runs when OPENAI_API_KEY is set.
    openai_api_key: str | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    moderation_model: str = "omni-moderation-latest"
    # The classifier's whole budget per create (text and image calls together).
    moderation_timeout_seconds: float = Field(2.0, gt=0, le=30)
    # A classifier that fails or times out lets the create through (true) or refuses it with a 503 (false).
    moderation_fail_open: bool = True
    # More than this many refusals in 24 h pause the user's creates for MODERATION_BLOCK_SECONDS.
    moderation_strikes: int = Field(5, ge=1)
    moderation_block_seconds: int = Field(86400, ge=60)
    # Keep the refused prompt with each refusal (off: only user, field, category and time are kept).
    moderation_store_prompts: bool = False

    @field_validator("supabase_jwt_secret", "replicate_webhook_secret", "supabase_service_role_key",
                     "replicate_api_token", "stripe_secret_key", "stripe_webhook_secret", "metrics_token",
                     "openai_api_key", "api_key_pepper")
    @classmethod
    def _no_placeholder(cls, value: str | None) -> str | None:
        if value is not None and value.strip().lower() in _PLACEHOLDERS:
            raise ValueError("is a placeholder; set the real secret")
        return value or None

    @field_validator("replicate_output_hosts")
    @classmethod
    def _hosts(cls, value: str) -> str:
        for entry in filter(None, (e.strip() for e in value.split(","))):
            host, _, port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
            if "/" in entry or "@" in entry or not host or (port and not port.isdigit()):
                raise ValueError(f"{entry!r} is not a host or host:port")
        return value

    @field_validator("credit_costs")
    @classmethod
    def _costs(cls, value: str) -> str:
        from shared.costs import parse

        parse(value)  # a ValueError names the entry and what is allowed
        return value

    @property
    def origins(self) -> list[str]:
        return [o.strip() for o in self.allowed_origins.split(",") if o.strip()]


class SettingsError(ValueError):
    """A bad setting, as one line naming the variable, its value and what is allowed."""


_SECRET_WORDS = ("SECRET", "KEY", "TOKEN", "PASSWORD")
_NUMBER_SUFFIXES = ("_SECONDS", "_DAYS", "_SIZE", "_MINUTE")  # API_KEY_CACHE_SECONDS is a duration, not a key
# The CLI prints a bad setting's line itself (one line, stderr): it turns the log line off.
LOG_BAD_SETTINGS = True


def _n(value) -> str:
    """A bound as a person writes it: 0, not 0.0."""
    return f"{value:g}" if isinstance(value, float) else str(value)


_ALLOWED = {
    "int_parsing": lambda ctx: "a whole number",
    "int_from_float": lambda ctx: "a whole number",
    "float_parsing": lambda ctx: "a number",
    "greater_than_equal": lambda ctx: f"a number of at least {_n(ctx.get('ge'))}",
    "greater_than": lambda ctx: f"a number above {_n(ctx.get('gt'))}",
    "less_than_equal": lambda ctx: f"a number of at most {_n(ctx.get('le'))}",
    "bool_parsing": lambda ctx: "true or false",
}


def describe(exc: ValidationError) -> str:
    """`DEADLINE_SECONDS=5 is not allowed: use a number of at least 60` (several joined by '; ')."""
    parts = []
    for err in exc.errors():
        name = str(err["loc"][0]).upper() if err.get("loc") else "a setting"
        secret = any(w in name for w in _SECRET_WORDS) and not name.endswith(_NUMBER_SUFFIXES)
        value = "(hidden)" if secret else repr(err.get("input"))
        allowed = _ALLOWED.get(err["type"])
        why = f"use {allowed(err.get('ctx') or {})}" if allowed else str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{name}={value} is not allowed: {why}")
    return "; ".join(parts)


@lru_cache
def get_settings() -> Settings:
    """The settings; a bad value raises SettingsError with one line (also logged where logging is
    configured, as in every Modal container: shared.app.create_app configures it first)."""
    try:
        return Settings()
    except ValidationError as exc:
        error = SettingsError(describe(exc))
        if LOG_BAD_SETTINGS and logging.getLogger().handlers:  # the service's logs (Modal); the CLI prints it
            logging.getLogger("shared.settings").error("bad setting: %s", error)
        raise error from None
