"""The credit packs on sale: one table, edited by the operator (contract "Cost": `packs`).

Amounts are in the currency's minor unit (cents). A Checkout Session records the pack as priced when it
was made, so changing a price here never changes what an open session credits.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pack:
    pack_id: str
    credits: int
    amount: int      # minor units, e.g. 500 = $5.00
    currency: str    # ISO 4217, lower case as Stripe writes it


PACKS: tuple[Pack, ...] = (
    Pack("credits-100", 100, 500, "usd"),
    Pack("credits-500", 500, 2000, "usd"),
    Pack("credits-1200", 1200, 4000, "usd"),
)
_BY_ID = {p.pack_id: p for p in PACKS}


def pack(pack_id: str) -> Pack | None:
    return _BY_ID.get(pack_id)


def packs_out() -> list[dict]:
    """The packs as GET /pricing lists them."""
    return [{"pack_id": p.pack_id, "credits": p.credits, "amount": p.amount, "currency": p.currency}
            for p in PACKS]
