"""The per-container set of clients every function shares: settings, database, credits, Replicate,
storage, and the way slow work is started in the background.

Built once per container on first use (not at import: cold starts stay short). The local stack and
the tests build their own `Services` and hand it to the app factory.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

from shared.credits import Credits
from shared.db import Backend, PostgresBackend, SupabaseBackend
from shared.replicate_provider import ReplicateProvider
from shared.settings import Settings, get_settings
from shared.storage import Storage, SupabaseStorage

log = logging.getLogger(__name__)

# Starts copying a finished video into our storage without waiting for it: a spawned Modal
# function in production, a thread locally. Takes the generation id.
StartVideoCopy = Callable[[str], None]
# Sends a generation's due webhook deliveries (shared/deliveries.py) without waiting: a spawned Modal
# function in production, a thread locally. Takes the generation id.
StartDeliveries = Callable[[str], None]


@dataclass
class Services:
    settings: Settings
    backend: Backend
    provider: ReplicateProvider
    storage: Storage
    start_video_copy: StartVideoCopy | None = None
    start_deliveries: StartDeliveries | None = None

    @cached_property
    def credits(self) -> Credits:
        return Credits(self.backend)

    @property
    def moderation(self):
        """The content policy (shared/moderation.py): blocked terms, and the classifier if configured.
        Built once per settings object (the operator's tools and tests may swap the settings)."""
        from shared.moderation import Moderator

        current = self.__dict__.get("_moderation")
        if current is None or current.settings is not self.settings:
            current = self.__dict__["_moderation"] = Moderator(self.settings)
        return current

    @cached_property
    def stripe(self):
        """The StripeClient (shared/purchases.py), or None while STRIPE_SECRET_KEY is unset."""
        from shared.purchases import stripe_client

        return stripe_client(self.settings)

    @cached_property
    def library(self):
        """The public share routes' per-container state: view counts, per-address limits (shared/shares.py)."""
        from shared.shares import PublicState

        return PublicState(self.settings)

    def webhook_url(self, generation_id: str) -> str:
        if not self.settings.webhook_url:
            raise RuntimeError("WEBHOOK_URL is not set: Replicate would have nowhere to report back")
        sep = "&" if "?" in self.settings.webhook_url else "?"
        return f"{self.settings.webhook_url}{sep}generation_id={generation_id}"

    def copy_video_later(self, generation_id: str) -> None:
        if self.start_video_copy is not None:
            self.start_video_copy(generation_id)
            return
        from shared.video_copy import copy_video

        threading.Thread(target=copy_video, args=(self, generation_id), daemon=True).start()

    def deliver_later(self, generation_id: str) -> None:
        if self.start_deliveries is not None:
            self.start_deliveries(generation_id)
            return
        from shared.deliveries import send_due

        threading.Thread(target=send_due, args=(self,), kwargs={"generation_id": generation_id},
                         daemon=True).start()

    def close(self) -> None:
        self.backend.close()


def postgres_backend(settings: Settings, *, role: str | None = None) -> PostgresBackend:
    """The pool to DATABASE_URL, at most DB_POOL_SIZE connections, each wait bounded (DB_*_SECONDS)."""
    return PostgresBackend(settings.database_url, max_size=settings.db_pool_size, role=role,
                           connect_timeout=settings.db_connect_timeout_seconds,
                           timeout=settings.db_pool_timeout_seconds,
                           statement_timeout=settings.db_statement_timeout_seconds)


def build_services(settings: Settings) -> Services:
    """Production wiring: Supabase for storage (and data, unless DATABASE_URL names a direct one)."""
    if not (settings.supabase_url and settings.supabase_service_role_key):
        raise RuntimeError("SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY must be set")
    supabase = SupabaseBackend.connect(settings.supabase_url, settings.supabase_service_role_key)
    backend = postgres_backend(settings) if settings.database_url else supabase
    provider = ReplicateProvider(settings.replicate_api_token, settings.replicate_base_url,
                                 timeout_seconds=settings.replicate_timeout_seconds)
    return Services(settings, backend, provider, SupabaseStorage(supabase.client, settings.storage_bucket))


_lock = threading.Lock()
_services: Services | None = None
_video_copy_starter: StartVideoCopy | None = None
_delivery_starter: StartDeliveries | None = None


def use_video_copy_starter(starter: StartVideoCopy) -> None:
    """Modal sets how a video copy is started (its spawn) before the container serves anything."""
    global _video_copy_starter
    _video_copy_starter = starter


def use_delivery_starter(starter: StartDeliveries) -> None:
    """Modal sets how deliveries are started (its spawn) before the container serves anything."""
    global _delivery_starter
    _delivery_starter = starter


def get_services() -> Services:
    global _services
    with _lock:
        if _services is None:
            _services = build_services(get_settings())
            _services.start_video_copy = _video_copy_starter
            _services.start_deliveries = _delivery_starter
        return _services
