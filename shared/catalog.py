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
RESOLUTIONS = ("480p", "720p", "1080p")  # every resolution any model sells, in order (1080p: Wan 2.5 only)
CHECKED = "2026-11-24"  # when the inputs below were last compared with the published schemas

PORTRAIT, LANDSCAPE = "9:16", "16:9"
_RATIOS = (LANDSCAPE, PORTRAIT)  # every Wan model on Replicate: enum ["16:9", "9:16"]; 1:1 is a 422 there


@dataclass(frozen=True)
class Input:
    """One input of a Replicate model, as its published schema declares it."""

    type: str                          # "string" | "integer" | "uri"
    choices: tuple[str | int, ...] | None = None   # the schema's enum, when it has one
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


# Optional uploads a model may take besides its first image (contract section 8): GET /pricing lists
# them per model as `inputs`, and /image-to-video refuses each where the model has none.
OPTIONAL_UPLOADS = ("last_image",)


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
    # First and last frame. Read 2026-12-02 from nodetool-ai/nodetool-replicate (commit d21aa025,
    # src/nodetool/nodes/replicate/video/generate.py, class Wan_2_2_I2V_Fast), which is generated from
    # this model's published openapi_schema (version 4eaf2b01d3bf70d8a2e00b219efeb7cb415855ad18b7dacdc4cae664a73a6eea):
    # image, last_image ("Optional last image to condition the video generation"), prompt, resolution
    # enum 480p/720p, num_frames 81-121 (default 81), seed; NO aspect_ratio: the video follows the image.
    ReplicateModel("wan-video/wan-2.2-i2v-fast", "Wan 2.2 A14B image-to-video, fast, first and last frame",
                   {"image": Input("uri", required=True), "last_image": Input("uri"), "prompt": Input("string"),
                    "resolution": Input("string", choices=("480p", "720p")),
                    "num_frames": Input("integer", minimum=81, maximum=121), "seed": _SEED},
                   _schema("wan-video/wan-2.2-i2v-fast", "nodetool-ai/nodetool-replicate@d21aa025 "
                           "src/nodetool/nodes/replicate/video/generate.py Wan_2_2_I2V_Fast (generated from "
                           "version 4eaf2b01d3bf70d8a2e00b219efeb7cb415855ad18b7dacdc4cae664a73a6eea), 2026-12-02")),
    # Wan 2.5 with audio. Read 2026-12-02: replicate.com/wan-video/wan-2.5-i2v/versions/
    # b4ebd9b0f1d222dca88ccb225e8e282c3d9311cbd19845f37cff6e4c30117d21/api (the fields: resolution (enum,
    # default 720p), duration (enum, default 5), seed, audio, image, prompt, negative_prompt,
    # enable_prompt_expansion (default true)) and api.core.today/v1/models/wan-video/wan-2.5-i2v/llms.txt,
    # a copy of the same schema (resolution 480p, 720p, 1080p; duration default 5, at most 10). We sell
    # 720p and 1080p for 5 or 10 s, the values every source names; audio is made by the model itself
    # (we send no `audio` file) and prompt expansion stays at the model's default.
    ReplicateModel("wan-video/wan-2.5-i2v", "Wan 2.5 image-to-video with audio, 5 or 10 s",
                   {"image": Input("uri", required=True), "prompt": _PROMPT, "negative_prompt": Input("string"),
                    "resolution": Input("string", choices=("480p", "720p", "1080p")),
                    "duration": Input("integer", choices=(5, 10)), "seed": _SEED},
                   _schema("wan-video/wan-2.5-i2v", "replicate.com/wan-video/wan-2.5-i2v/versions/"
                           "b4ebd9b0f1d222dca88ccb225e8e282c3d9311cbd19845f37cff6e4c30117d21/api and "
                           "api.core.today/v1/models/wan-video/wan-2.5-i2v/llms.txt, 2026-12-02")),
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
    """One (model, resolution, duration) we sell, and the Replicate model that runs it. `duration` is
    None for the models that have none (their length is the model's own, about 5 s); for the others
    it is sent as the `duration` input and the cost is per resolution AND duration."""

    model: str
    kind: str              # "text-to-video" | "image-to-video"
    resolution: str
    replicate_model: str   # a key of REPLICATE_MODELS
    fixed_input: tuple[tuple[str, object], ...] = ()
    price: ProviderPrice | None = None   # what Replicate charges us for one run (None: never recorded)
    # The catalog's own credits where they are not the seed's by resolution (the models sold by
    # duration); shared/costs.py reads it, and CREDIT_COSTS overrides it like any other.
    default_cost: int | None = None
    duration: int | None = None   # seconds

    def __post_init__(self):
        if self.duration is not None:
            object.__setattr__(self, "fixed_input", (*self.fixed_input, ("duration", self.duration)))

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
    # First and last frame (optional `last_image`); the seed's prices (480p 10, 720p 20).
    Variant("i2v-2.2-fast", "image-to-video", "480p", "wan-video/wan-2.2-i2v-fast", (("resolution", "480p"),),
            price=_unknown("wan-video/wan-2.2-i2v-fast")),
    Variant("i2v-2.2-fast", "image-to-video", "720p", "wan-video/wan-2.2-i2v-fast", (("resolution", "720p"),),
            price=_unknown("wan-video/wan-2.2-i2v-fast")),
    # Wan 2.5: cost by resolution and duration (credits). The provider's price is per second of output;
    # these keep the margin of the seed's models at twice the length; CREDIT_COSTS overrides them
    # (`i2v-2.5:720p:10s=90`).
    Variant("i2v-2.5", "image-to-video", "720p", "wan-video/wan-2.5-i2v", (("resolution", "720p"),),
            default_cost=40, duration=5, price=_unknown("wan-video/wan-2.5-i2v")),
    Variant("i2v-2.5", "image-to-video", "720p", "wan-video/wan-2.5-i2v", (("resolution", "720p"),),
            default_cost=80, duration=10, price=_unknown("wan-video/wan-2.5-i2v")),
    Variant("i2v-2.5", "image-to-video", "1080p", "wan-video/wan-2.5-i2v", (("resolution", "1080p"),),
            default_cost=60, duration=5, price=_unknown("wan-video/wan-2.5-i2v")),
    Variant("i2v-2.5", "image-to-video", "1080p", "wan-video/wan-2.5-i2v", (("resolution", "1080p"),),
            default_cost=120, duration=10, price=_unknown("wan-video/wan-2.5-i2v")),
)

_BY_KEY = {(v.model, v.resolution, v.duration): v for v in VARIANTS}


def models_of_kind(kind: str) -> list[str]:
    return sorted({v.model for v in VARIANTS if v.kind == kind})


def resolutions_of(model: str) -> list[str]:
    return list(dict.fromkeys(v.resolution for v in VARIANTS if v.model == model))


def durations_of(model: str) -> list[int]:
    """The durations (seconds) a model sells; empty for a model without a duration input."""
    return sorted({v.duration for v in VARIANTS if v.model == model and v.duration is not None})


def default_duration(model: str) -> int | None:
    """What a request without `duration` gets: the shortest (each schema's default, 5 s)."""
    durations = durations_of(model)
    return durations[0] if durations else None


def variant(model: str, resolution: str, duration: int | None = None) -> Variant | None:
    """The variant sold for these; `duration` None means the model's default one."""
    return _BY_KEY.get((model, resolution, duration if duration is not None else default_duration(model)))


def optional_inputs(model: str) -> list[str]:
    """The optional uploads (OPTIONAL_UPLOADS) every variant of `model` takes (GET /pricing `inputs`)."""
    variants = [v for v in VARIANTS if v.model == model]
    return [name for name in OPTIONAL_UPLOADS if variants and all(v.replicate.accepts(name) for v in variants)]


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
            found[name] = f"{v.model} takes {' or '.join(map(str, spec.choices))}"
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
                                            "aspect_ratios": aspect_ratios_of(v.model),
                                            "inputs": optional_inputs(v.model),
                                            "durations": durations_of(v.model), "duration_costs": {}})
        if v.resolution not in entry["resolutions"]:
            entry["resolutions"].append(v.resolution)
        if v.duration is None or v.duration == default_duration(v.model):
            entry["costs"][v.resolution] = cost_of(v)  # the default length's cost (what a request without duration pays)
        if v.duration is not None:
            entry["duration_costs"].setdefault(v.resolution, {})[str(v.duration)] = cost_of(v)
    return {"currency": "credits", "models": list(models.values())}


def replicate_input(v: Variant, *, prompt: str, negative_prompt: str | None, seed: int | None,
                    aspect_ratio: str | None, image_url: str | None, last_image_url: str | None = None) -> dict:
    """The prediction input Replicate's model takes for one request; refuses what the model lacks."""
    optional = {"negative_prompt": negative_prompt, "seed": seed, "aspect_ratio": aspect_ratio, "image": image_url,
                "last_image": last_image_url}
    wrong = problems(v, optional)
    if wrong:  # validation stops these before the charge; this guards stored rows (retries) too
        raise ValueError("; ".join(wrong.values()))
    data: dict[str, object] = {"prompt": prompt, **dict(v.fixed_input)}
    data.update({k: val for k, val in optional.items() if val is not None})
    return data
