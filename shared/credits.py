"""The credit module: the one Python interface over the database's money functions.

Every function (endpoints, webhook, sweep) goes through `Credits`; the rules themselves live in SQL
(migrations/), where one transaction holds them. Errors arrive as `shared.errors` exceptions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

from shared.db import Backend

@dataclass(frozen=True, kw_only=True)
class NewGeneration:
    """Everything the create path charges for and stores, as create_generation takes it."""

    user_id: UUID | str
    kind: str
    model: str
    resolution: str
    prompt: str
    cost: int
    max_active: int
    negative_prompt: str | None = None
    seed: int | None = None
    aspect_ratio: str | None = None
    image_path: str | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    retry_of: UUID | str | None = None
    webhook_url: str | None = None                # contract section 3 (shared/push.py)
    webhook_events: list[str] | None = None
    # Editing (migrations/0019): sent only when one is set, through create_generation_edit.
    extends: UUID | str | None = None
    last_image_path: str | None = None
    duration: int | None = None

    def editing(self) -> bool:
        return any(getattr(self, name) is not None for name in _EDIT_FIELDS)

    def params(self, *, webhook: bool, edits: bool = False) -> dict[str, Any]:
        fields = asdict(self)
        if not webhook:
            del fields["webhook_url"], fields["webhook_events"]
        if not edits:
            for name in _EDIT_FIELDS:
                del fields[name]
        return {f"p_{name}": value for name, value in fields.items()}


_EDIT_FIELDS = ("extends", "last_image_path", "duration")


class Credits:
    def __init__(self, backend: Backend):
        self.backend = backend

    def add_credits(self, user_id: UUID | str, amount: int, type: str = "purchase",
                    description: str | None = None) -> int:
        """Credit (or, as a signed 'adjustment', debit) a user; returns the new balance."""
        return self.backend.call("add_credits", p_user_id=user_id, p_amount=amount, p_type=type,
                                 p_description=description)

    def deduct_credits(self, user_id: UUID | str, amount: int, generation_id: UUID | str) -> int:
        """Charge an existing, uncharged generation; returns the new balance."""
        return self.backend.call("deduct_credits", p_user_id=user_id, p_amount=amount,
                                 p_gen_id=generation_id)

    def refund_credits(self, generation_id: UUID | str) -> str:
        """Refund a failed or canceled generation once. Answers 'refunded', or why nothing changed:
        not_found, not_finished, succeeded, not_charged, already_refunded."""
        return self.backend.call("refund_credits", p_gen_id=generation_id)

    def create_generation(self, new: NewGeneration) -> dict[str, Any]:
        """Check the limit and balance, insert the generation and charge it, in one transaction.

        Returns `generation_id`, `status`, `cost`, `credits_remaining` and `replayed` (false); when the
        Idempotency-Key was seen before with the same request (nothing charged then), the whole first
        generation with `replayed` true."""
        return self.backend.call("create_generation", **new.params(webhook=False))

    def create_generation_limited(self, new: NewGeneration, *, rate_limit: int, global_limit: int,
                                  api_key_id: UUID | None = None) -> dict[str, Any]:
        """create_generation behind the per-user create window and the service-wide one, in the same
        one transaction (migrations/0010); adds `rate` (the user's window) unless replayed. Called
        through create_generation_pushed (migrations/0015), which also sets the webhook in it, or, for a
        generation with editing fields (extends, last_image_path, duration), create_generation_edit
        (migrations/0019): the same plus those columns, in the same one transaction."""
        limits = {"p_rate_limit": rate_limit, "p_global_limit": global_limit, "p_api_key_id": api_key_id}
        if new.editing():
            return self.backend.call("create_generation_edit", **new.params(webhook=True, edits=True), **limits)
        return self.backend.call("create_generation_pushed", **new.params(webhook=True), **limits)

    def ledger_discrepancies(self) -> list[dict[str, Any]]:
        """Every broken money rule, as rows; empty when the books are right."""
        return self.backend.call("ledger_discrepancies")
