"""What we sell: our model names, their resolutions and prices, and the Replicate model behind each.

The one table mapping our names to Replicate's (DESIGN.md: keep it in one place).
"""

from __future__ import annotations

from dataclasses import dataclass

COST_BY_RESOLUTION = {"480p": 10, "720p": 20}  # credits, whatever the model


@dataclass(frozen=True)
class Variant:
    """One (model, resolution) we sell, and how Replicate runs it."""

    model: str
    kind: str              # "text-to-video" | "image-to-video"
    resolution: str
    replicate_model: str   # "owner/name" for POST /v1/models/{owner}/{name}/predictions
    fixed_input: tuple[tuple[str, object], ...] = ()

    @property
    def cost(self) -> int:
        return COST_BY_RESOLUTION[self.resolution]


VARIANTS: tuple[Variant, ...] = (
    Variant("t2v-14B", "text-to-video", "480p", "wavespeedai/wan-2.1-t2v-480p"),
    Variant("t2v-14B", "text-to-video", "720p", "wavespeedai/wan-2.1-t2v-720p"),
    Variant("t2v-1.3B", "text-to-video", "480p", "wan-video/wan-2.2-t2v-fast", (("resolution", "480p"),)),
    Variant("i2v-14B", "image-to-video", "480p", "wavespeedai/wan-2.1-i2v-480p"),
    Variant("i2v-14B", "image-to-video", "720p", "wavespeedai/wan-2.1-i2v-720p"),
)

_BY_KEY = {(v.model, v.resolution): v for v in VARIANTS}


def models_of_kind(kind: str) -> list[str]:
    return sorted({v.model for v in VARIANTS if v.kind == kind})


def resolutions_of(model: str) -> list[str]:
    return [v.resolution for v in VARIANTS if v.model == model]


def variant(model: str, resolution: str) -> Variant | None:
    return _BY_KEY.get((model, resolution))


def pricing() -> dict:
    """GET /pricing: every model with its kind, allowed resolutions and the cost of each."""
    models = {}
    for v in VARIANTS:
        entry = models.setdefault(v.model, {"model": v.model, "kind": v.kind, "resolutions": [], "costs": {}})
        entry["resolutions"].append(v.resolution)
        entry["costs"][v.resolution] = v.cost
    return {"currency": "credits", "models": list(models.values())}


def replicate_input(v: Variant, *, prompt: str, negative_prompt: str | None, seed: int | None,
                    aspect_ratio: str | None, image_url: str | None) -> dict:
    """The prediction input Replicate's model takes for one request."""
    data: dict[str, object] = {"prompt": prompt, **dict(v.fixed_input)}
    optional = {"negative_prompt": negative_prompt, "seed": seed, "aspect_ratio": aspect_ratio, "image": image_url}
    data.update({k: val for k, val in optional.items() if val is not None})
    return data
