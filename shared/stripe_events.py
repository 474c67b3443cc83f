"""The shape of what Stripe sends, checked before any of it reaches SQL (issue 20, item 1).

A signed event is authentic, not necessarily well formed: a body of `["a"]`, an amount of `"abc"` or
`10**15`, an id that is an object or holds a NUL made 5xx answers, and a 5xx makes Stripe deliver the
same bad event again for three days. Every object the service reads is validated here; what does not
fit is `InvalidPayload` (400), with the field named.

Stripe facts relied on (API reference, objects Event, Checkout Session, Charge, Refund, Dispute; the
API version pinned in shared.purchases.STRIPE_API_VERSION):
- ids are short ASCII strings with a type prefix (`evt_`, `cs_`, `pi_`, `re_`, `dp_`, `ch_`);
- amounts are non-negative integers in the currency's minor unit; a charge's `amount_refunded` and each
  of its refunds are at most its `amount`;
- `payment_intent` is an id, or the object itself when expanded, or null;
- a Refund's status is pending, requires_action, succeeded, failed or canceled; a Dispute's is
  warning_needs_response, warning_under_review, warning_closed, needs_response, under_review, won,
  lost, prevented, or (after a loss) appeal_needs_response / appeal_under_review.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, ValidationError, model_validator

from shared import errors

MAX_AMOUNT = 2 ** 31 - 1  # the database's integer; Stripe's own limit is far below (99,999,999 in USD)

StripeId = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_]+$")]
Amount = Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)]
# Free text we pass on (status, currency, metadata values): bounded, and no NUL (Postgres text cannot hold it).
Text = Annotated[str, StringConstraints(strict=True, max_length=255, pattern=r"^[^\x00]*$")]


class _Object(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Paid(_Object):
    """An object that names its payment intent: by id, or expanded into the object itself."""
    payment_intent: StripeId | None = None

    @model_validator(mode="before")
    @classmethod
    def _expanded(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("payment_intent"), dict):
            data = {**data, "payment_intent": data["payment_intent"].get("id")}
        return data


class Event(_Object):
    id: StripeId
    type: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=100, pattern=r"^[a-z0-9_.]+$")]
    data: dict[str, Any]  # `object` is read by the type's own model below

    @property
    def object(self) -> Any:
        return self.data.get("object")


class SessionRef(_Object):
    id: StripeId


class Session(_Paid):
    """A Checkout Session as fetched from Stripe (what fulfil_purchase compares with the sale)."""
    id: StripeId
    payment_status: Text | None = None
    amount_total: Amount | None = None
    currency: Text | None = None
    client_reference_id: Text | None = None
    metadata: dict[str, Text] | None = None


class Refund(_Paid):
    id: StripeId
    amount: Amount
    status: Text | None = None


class _RefundList(_Object):
    data: list[Refund] = Field(default_factory=list, max_length=1000)


class Charge(_Paid):
    id: StripeId | None = None
    amount: Amount | None = None
    amount_refunded: Amount
    refunds: _RefundList | None = None

    @model_validator(mode="after")
    def _within_the_charge(self) -> "Charge":
        if self.amount is not None:
            if self.amount_refunded > self.amount:
                raise ValueError("amount_refunded is more than the charge's amount")
            if any(r.amount > self.amount for r in (self.refunds.data if self.refunds else [])):
                raise ValueError("a refund is more than the charge's amount")
        return self


class Dispute(_Paid):
    id: StripeId
    amount: Annotated[StrictInt, Field(ge=1, le=MAX_AMOUNT)]  # a dispute is of some money
    status: Text


def parse(model: type[_Object], value: Any, what: str):
    """`value` as `model`, or InvalidPayload naming the first field that does not fit."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or what
        raise errors.InvalidPayload(f"The {what} is not one Stripe sends: {field}: {first['msg'].lower()}.") from None
