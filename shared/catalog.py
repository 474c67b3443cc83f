"""What we sell, and what the Replicate model behind each sale accepts: the one table.

Request validation (shared/schemas.py), GET /pricing and the prediction input sent to Replicate are
all derived from the data below, and the local Replicate emulator validates every create against it,
so a value we accept is one the model takes (a refusal after the charge cannot happen).

Where the input data comes from: each Replicate model publishes its input schema at
`GET https://api.replicate.com/v1/models/{owner}/{name}` ->
`latest_version.openapi_schema.components.schemas.Input` (also the API tab of the model's page).
Only the inputs we send are listed; every other input of the model (frames, steps, guidance, LoRAs...)
is left at the model's default. README "Keeping the catalog true" says how to refresh this table.
"""

from __future__ import annotations

from dataclasses import dataclass

COST_BY_RESOLUTION = {"480p": 10, "720p": 20}  # the seed's credits; CREDIT_COSTS changes them (shared/costs.py)
CHECKED = "2026-11-24"  # when the inputs below were last compared with the published schemas

PORTRAIT, LANDSCAPE = "9:16", "16:9"
_RATIOS = (LANDSCAPE, PORTRAIT)  # every Wan model on Replicate: enum ["16:9", "9:16"]; 1:1 is a 422 there


@dataclass(frozen=True)
class Input:
    """One input of a Replicate model, as its published schema declares it."""

    type: str                          # "string" | "integer" | "uri"
    choices: tuple[str, ...] | None = None   # the schema's enum, when it has one
    minimum: int | None = None
    maximum: int | None = None
    required: bool = False


@dataclass(frozen=True)
class ReplicateModel:
    name: str                          # "owner/name" for POST /v1/models/{owner}/{name}/predictions
    title: str                         # what it really is, for people
    inputs: dict[str, Input]
    source: str                        # where `inputs` was read, and when

    def accepts(self, name: str) -> bool:
        return name in self.inputs


_PROMPT = Input("string", required=True)
_SEED = Input("integer")             # any integer there; our API takes 0 to 2**32-1
_RATIO = Input("string", choices=_RATIOS)


def _schema(owner_name: str, seen: str | None = None) -> str:
    """Where a model's inputs were read. `seen`: the published page actually read; otherwise the facts
    in ../shared/DESIGN.md ("Platform facts"), to be re-read from the API (README says how)."""
    where = seen or "../shared/DESIGN.md platform facts (16:9 and 9:16 only; inputs per model)"
    return (f"GET /v1/models/{owner_name} -> latest_version.openapi_schema.components.schemas.Input; "
            f"read: {where}; checked {CHECKED}")


REPLICATE_MODELS: dict[str, ReplicateModel] = {m.name: m for m in (
    ReplicateModel("wavespeedai/wan-2.1-t2v-480p", "Wan 2.1 14B text-to-video, 480p",
                   {"prompt": _PROMPT, "negative_prompt": Input("string"), "aspect_ratio": _RATIO, "seed": _SEED},
                   _schema("wavespeedai/wan-2.1-t2v-480p", "replicate.com/wavespeedai/wan-2.1-t2v-480p/versions/"
                           "87b007d6f1a81f175c6bb6419abc9140cfac26c9df72385be1a6bc6dff2197c1/api")),
    ReplicateModel("wavespeedai/wan-2.1-t2v-720p", "Wan 2.1 14B text-to-video, 720p",
                   {"prompt": _PROMPT, "negative_prompt": Input("string"), "aspect_ratio": _RATIO, "seed": _SEED},
                   _schema("wavespeedai/wan-2.1-t2v-720p")),
    ReplicateModel("wavespeedai/wan-2.1-i2v-480p", "Wan 2.1 14B image-to-video, 480p",
                   {"image": Input("uri", required=True), "prompt": _PROMPT, "negative_prompt": Input("string"),
                    "aspect_ratio": _RATIO, "seed": _SEED},
                   _schema("wavespeedai/wan-2.1-i2v-480p")),
    ReplicateModel("wavespeedai/wan-2.1-i2v-720p", "Wan 2.1 14B image-to-video, 720p",
                   {"image": Input("uri", required=True), "prompt": _PROMPT, "negative_prompt": Input("string"),
                    "aspect_ratio": _RATIO, "seed": _SEED},
                   _schema("wavespeedai/wan-2.1-i2v-720p")),
    # The real 1.3B model: 480p only, and no negative prompt.
    ReplicateModel("wan-video/wan-2.1-1.3b", "Wan 2.1 1.3B text-to-video",
                   {"prompt": _PROMPT, "aspect_ratio": _RATIO, "resolution": Input("string", choices=("480p",)),
                    "seed": _SEED},
                   _schema("wan-video/wan-2.1-1.3b")),
    # Wan 2.2 A14B pruned for speed (not a 1.3B model); it has no negative_prompt (Replicate drops it).
    ReplicateModel("wan-video/wan-2.2-t2v-fast", "Wan 2.2 A14B text-to-video, fast",
                   {"prompt": _PROMPT, "aspect_ratio": _RATIO, "resolution": Input("string", choices=("480p", "720p")),
                    "seed": _SEED},
                   _schema("wan-video/wan-2.2-t2v-fast")),
)}


@dataclass(frozen=True)
class ProviderPrice:
    """What Replicate charges us for one run of a variant: operator data with its source and the date
    read (prices are not in Replicate's API). `usd` None: it could not be read, and `wan-api doctor`
    warns "price unknown" until someone reads the model's page and fills it in."""

    usd: float | None          # per `per`; None = unknown
    per: str                   # "second" (of output video) | "run"
    source: str                # where it was read, or why it could not be
    read: str                  # when (YYYY-MM-DD)
    output_seconds: float = 81 / 16   # one run's video: the models' default 81 frames at 16 fps
    high_estimate: float | None = None  # unknown price: the highest third-party figure per run, USD
    estimates: str = ""        # those third-party figures and where they came from

    @property
    def per_run(self) -> float | None:
        if self.usd is None:
            return None
        return self.usd * self.output_seconds if self.per == "second" else self.usd


PRICES_READ = "2026-12-02"
_UNREAD = ("replicate.com/{model} (its pricing section) could not be read from this machine (no web access); "
           "read it there, then set usd and per here")


def _unknown(model: str, estimates: str = "", high_per_second: float | None = None,
             high_per_run: float | None = None) -> ProviderPrice:
    high = high_per_run if high_per_run is not None else (high_per_second * 81 / 16 if high_per_second else None)
    return ProviderPrice(None, "second", _UNREAD.format(model=model), PRICES_READ, high_estimate=high,
                         estimates=estimates)


# Third-party figures found (public code and price tables, not Replicate's own page): they disagree by
# up to 20x, so none is taken as the price. ../shared/DESIGN.md: "$0.03-0.25 per second for the
# wavespeed 720p models"; a reseller's table (x402 API docs): wavespeedai/wan-2.1-t2v-720p $0.29/s,
# -i2v-720p $0.30/s, wan-video/wan-2.2-t2v-fast $0.12 per video; an app's model list: 480p "~$0.03/video",
# 720p "~$0.07/video".
_T2V_720 = _unknown("wavespeedai/wan-2.1-t2v-720p", "third-party: ~$0.07/video to $0.29/s (~$1.47 a 5 s clip)", 0.29)
_I2V_720 = _unknown("wavespeedai/wan-2.1-i2v-720p", "third-party: $0.03-0.25/s to $0.30/s (~$1.52 a 5 s clip)", 0.30)
_FAST = "third-party: $0.12 per video (resolution not stated)"


@dataclass(frozen=True)
class Variant:
    """One (model, resolution) we sell, and the Replicate model that runs it."""

    model: str
    kind: str              # "text-to-video" | "image-to-video"
    resolution: str
    replicate_model: str   # a key of REPLICATE_MODELS
    fixed_input: tuple[tuple[str, object], ...] = ()
    price: ProviderPrice | None = None   # what Replicate charges us for one run (None: never recorded)

    @property
    def replicate(self) -> ReplicateModel:
        return REPLICATE_MODELS[self.replicate_model]

    @property
    def aspect_ratios(self) -> tuple[str, ...]:
        return self.replicate.inputs["aspect_ratio"].choices if self.replicate.accepts("aspect_ratio") else ()


VARIANTS: tuple[Variant, ...] = (
    Variant("t2v-14B", "text-to-video", "480p", "wavespeedai/wan-2.1-t2v-480p",
            price=_unknown("wavespeedai/wan-2.1-t2v-480p", "third-party: ~$0.03/video")),
    Variant("t2v-14B", "text-to-video", "720p", "wavespeedai/wan-2.1-t2v-720p", price=_T2V_720),
    Variant("t2v-1.3B", "text-to-video", "480p", "wan-video/wan-2.1-1.3b", (("resolution", "480p"),),
            price=_unknown("wan-video/wan-2.1-1.3b")),
    Variant("t2v-2.2-fast", "text-to-video", "480p", "wan-video/wan-2.2-t2v-fast", (("resolution", "480p"),),
            price=_unknown("wan-video/wan-2.2-t2v-fast", _FAST, high_per_run=0.12)),
    Variant("t2v-2.2-fast", "text-to-video", "720p", "wan-video/wan-2.2-t2v-fast", (("resolution", "720p"),),
            price=_unknown("wan-video/wan-2.2-t2v-fast", _FAST, high_per_run=0.12)),
    Variant("i2v-14B", "image-to-video", "480p", "wavespeedai/wan-2.1-i2v-480p",
            price=_unknown("wavespeedai/wan-2.1-i2v-480p")),
    Variant("i2v-14B", "image-to-video", "720p", "wavespeedai/wan-2.1-i2v-720p", price=_I2V_720),
)

_BY_KEY = {(v.model, v.resolution): v for v in VARIANTS}


def models_of_kind(kind: str) -> list[str]:
    return sorted({v.model for v in VARIANTS if v.kind == kind})


def resolutions_of(model: str) -> list[str]:
    return [v.resolution for v in VARIANTS if v.model == model]


def variant(model: str, resolution: str) -> Variant | None:
    return _BY_KEY.get((model, resolution))


def aspect_ratios_of(model: str) -> list[str]:
    """The ratios every resolution of `model` takes (what /pricing lists)."""
    ratios = [set(v.aspect_ratios) for v in VARIANTS if v.model == model]
    common = set.intersection(*ratios) if ratios else set()
    return [r for r in _RATIOS if r in common]


def default_aspect_ratio(v: Variant, width: int, height: int) -> str | None:
    """Image-to-video without aspect_ratio: portrait images make 9:16 videos, the others 16:9 (the
    wavespeed i2v models no longer follow the image's shape by themselves)."""
    wanted = PORTRAIT if height > width else LANDSCAPE
    return wanted if wanted in v.aspect_ratios else None


def problems(v: Variant, values: dict[str, object]) -> dict[str, str]:
    """{input name: why the Replicate model cannot take it} for our optional inputs (None = not sent)."""
    found = {}
    for name, value in values.items():
        if value is None:
            continue
        spec = v.replicate.inputs.get(name)
        if spec is None:
            found[name] = f"{v.model} ({v.replicate.title}) does not take a {name}; leave it out"
        elif spec.choices is not None and value not in spec.choices:
            found[name] = f"{v.model} takes {' or '.join(spec.choices)}"
    return found


def pricing(cost_of=None) -> dict:
    """GET /pricing: every model with its kind, resolutions, the cost of each, and its aspect ratios.
    `cost_of(variant)` gives the credits (shared/costs.py: the seed's unless CREDIT_COSTS says otherwise)."""
    if cost_of is None:
        from shared.costs import DEFAULT
        cost_of = DEFAULT.of
    models = {}
    for v in VARIANTS:
        entry = models.setdefault(v.model, {"model": v.model, "kind": v.kind, "resolutions": [], "costs": {},
                                            "aspect_ratios": aspect_ratios_of(v.model)})
        entry["resolutions"].append(v.resolution)
        entry["costs"][v.resolution] = cost_of(v)
    return {"currency": "credits", "models": list(models.values())}


def replicate_input(v: Variant, *, prompt: str, negative_prompt: str | None, seed: int | None,
                    aspect_ratio: str | None, image_url: str | None) -> dict:
    """The prediction input Replicate's model takes for one request; refuses what the model lacks."""
    optional = {"negative_prompt": negative_prompt, "seed": seed, "aspect_ratio": aspect_ratio, "image": image_url}
    wrong = problems(v, optional)
    if wrong:  # validation stops these before the charge; this guards stored rows (retries) too
        raise ValueError("; ".join(wrong.values()))
    data: dict[str, object] = {"prompt": prompt, **dict(v.fixed_input)}
    data.update({k: val for k, val in optional.items() if val is not None})
    return data
