"""What each variant costs in credits: the one source for GET /pricing, the create's charge and the
OpenAPI examples.

The seed's prices (480p = 10, 720p = 20, whatever the model: `catalog.COST_BY_RESOLUTION`) apply
unless the operator's `CREDIT_COSTS` setting says otherwise, so a price changes with the Modal
secret and a redeploy, never with a code change (README "Pricing" says why a setting and not a
table). A generation keeps the cost it was charged: it is stored on its row, and its refund gives
back that number, whatever the setting says later.

`CREDIT_COSTS` is comma-separated `KEY=CREDITS`, the most specific key winning:
  `720p=25`                  every model's 720p
  `t2v-14B:720p=30`          one model at one resolution
  `t2v-14B:720p:10s=60`      one model, resolution and duration (models sold by duration)
Keys are (model, resolution, duration), so a duration dimension fits without another format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from shared import catalog

Key = tuple[str | None, str, int | None]  # (model or None = every model, resolution, seconds or None)
_ENTRY = re.compile(r"^(?:(?P<model>[^:=\s]+):)?(?P<resolution>\d+p)(?::(?P<duration>\d+)s)?=(?P<credits>\S+)$")


@dataclass(frozen=True)
class CostTable:
    overrides: dict[Key, int] = field(default_factory=dict)

    def credits(self, model: str, resolution: str, duration: int | None = None,
                default: int | None = None) -> int:
        """The credits one generation of (model, resolution[, duration]) costs now: the most specific
        CREDIT_COSTS entry, else `default` (the catalog's own for a variant sold by duration), else the
        seed's by resolution. A model sold by duration is priced by its own entries only, never by a
        resolution-wide one meant for the ~5 s models."""
        keys = [(model, resolution, duration), (model, resolution, None), (None, resolution, duration)]
        if duration is None:
            keys += [(None, resolution, None)]
        for key in keys:
            if key in self.overrides:
                return self.overrides[key]
        return default if default is not None else catalog.COST_BY_RESOLUTION[resolution]

    def of(self, v: catalog.Variant) -> int:
        return self.credits(v.model, v.resolution, v.duration, v.default_cost)


@lru_cache
def parse(text: str) -> CostTable:
    """CREDIT_COSTS as a CostTable; ValueError (one sentence) for an entry that is not a sold variant."""
    overrides: dict[Key, int] = {}
    sold = {(v.model, v.resolution) for v in catalog.VARIANTS}
    resolutions = {v.resolution for v in catalog.VARIANTS}
    by_resolution = {v.resolution for v in catalog.VARIANTS if v.duration is None}
    for raw in filter(None, (e.strip() for e in text.split(","))):
        match = _ENTRY.match(raw)
        if not match:
            raise ValueError(f"{raw!r} is not RESOLUTION=CREDITS, MODEL:RESOLUTION=CREDITS or "
                             f"MODEL:RESOLUTION:SECONDSs=CREDITS (e.g. 720p=25)")
        model, resolution = match["model"], match["resolution"]
        if resolution not in resolutions or (model and (model, resolution) not in sold):
            what = f"{model} at {resolution}" if model else resolution
            raise ValueError(f"{raw!r}: {what} is not sold (see GET /pricing)")
        if not model and not match["duration"] and resolution not in by_resolution:
            raise ValueError(f"{raw!r}: {resolution} is sold only by duration: name the model and the length "
                             f"(e.g. i2v-2.5:{resolution}:5s=60)")
        if not match["credits"].isdigit() or int(match["credits"]) <= 0:
            raise ValueError(f"{raw!r}: the cost must be a positive whole number of credits")
        overrides[(model, resolution, int(match["duration"]) if match["duration"] else None)] = int(match["credits"])
    return CostTable(overrides)


DEFAULT = CostTable()


def of(settings) -> CostTable:
    """The cost table the settings give (CREDIT_COSTS), checked when the settings were read."""
    return parse(getattr(settings, "credit_costs", "") or "")
