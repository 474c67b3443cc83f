"""What a variant costs: one source (shared/costs.py) for /pricing, the charge and the OpenAPI example;
the operator changes it with CREDIT_COSTS, and a generation keeps what it was charged."""

from __future__ import annotations

import pytest

from shared import catalog, costs
from shared.settings import Settings, SettingsError, get_settings


def test_the_seed_prices_apply_without_a_setting():
    table = costs.parse("")
    assert {(v.model, v.resolution, v.duration): table.of(v) for v in catalog.VARIANTS} == {
        (v.model, v.resolution, v.duration): v.default_cost or {"480p": 10, "720p": 20}[v.resolution]
        for v in catalog.VARIANTS}  # the catalog's own for the models sold by duration (Wan 2.5)


@pytest.mark.parametrize("text, model, resolution, duration, expected", [
    pytest.param("720p=25", "t2v-14B", "720p", None, 25, id="every_model_at_a_resolution"),
    pytest.param("720p=25,t2v-14B:720p=30", "t2v-14B", "720p", None, 30, id="the_model_wins_over_the_resolution"),
    pytest.param("720p=25,t2v-14B:720p=30", "i2v-14B", "720p", None, 25, id="other_models_keep_the_resolution_price"),
    pytest.param("t2v-14B:720p=30,t2v-14B:720p:10s=60", "t2v-14B", "720p", 10, 60, id="a_duration_is_most_specific"),
    pytest.param("t2v-14B:720p=30,t2v-14B:720p:10s=60", "t2v-14B", "720p", 5, 30, id="another_duration_falls_back"),
    pytest.param("720p=25", "t2v-14B", "480p", None, 10, id="untouched_resolution_keeps_the_seed"),
])
def test_the_most_specific_entry_wins(text, model, resolution, duration, expected):
    assert costs.parse(text).credits(model, resolution, duration) == expected


@pytest.mark.parametrize("text, says", [
    ("720p=0", "positive whole number"), ("720p=-3", "positive whole number"), ("720p=abc", "positive whole number"),
    ("2160p=40", "2160p is not sold"), ("1080p=40", "1080p is sold only by duration"), ("t2v-1.3B:720p=20", "t2v-1.3B at 720p is not sold"),
    ("nope", "is not RESOLUTION=CREDITS"),
])
def test_a_bad_entry_stops_with_one_line_naming_it(monkeypatch, text, says):
    monkeypatch.setenv("CREDIT_COSTS", text)
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError) as err:
            get_settings()
    finally:
        get_settings.cache_clear()
    assert str(err.value).startswith("CREDIT_COSTS=") and says in str(err.value)


@pytest.fixture
def stack_settings():
    return {"credit_costs": "720p=25,t2v-14B:480p=12"}


def test_pricing_and_the_charge_read_the_setting_and_a_generation_keeps_its_cost(stack, api):
    pricing = api.http.get("/pricing").json()
    by_model = {m["model"]: m["costs"] for m in pricing["models"]}
    assert by_model["t2v-14B"] == {"480p": 12, "720p": 25} and by_model["i2v-14B"] == {"480p": 10, "720p": 25}
    token = api.token()
    first = api.text_to_video(token, prompt="a fox", model="t2v-14B", resolution="720p").json()
    assert first["cost"] == 25 and first["credits_remaining"] == 75  # 100 - 25
    # The operator changes the price: new generations pay the new one; the first keeps 25 and its
    # refund gives back 25, not the new price.
    stack.services.settings = stack.settings.model_copy(update={"credit_costs": "720p=40"})
    second = api.text_to_video(token, prompt="a fox", model="t2v-14B", resolution="720p").json()
    assert second["cost"] == 40 and second["credits_remaining"] == 35  # 75 - 40
    stack.emulator.finish(api.prediction_of(first["generation_id"]), "failed", "boom")
    from tests.support import wait_for
    wait_for(lambda: api.balance(token) == 60)  # 35 + the first's 25 back
    assert api.status(token, first["generation_id"]).json()["cost"] == 25


def test_the_openapi_example_is_the_default_table():
    from shared.api_models import Pricing

    example = Pricing.model_config["json_schema_extra"]["examples"][0]
    assert example["models"] == catalog.pricing(costs.DEFAULT.of)["models"]


def test_a_model_sold_by_duration_keeps_its_own_prices_unless_named():
    """Wan 2.5 is priced per resolution and length (catalog defaults); a resolution-wide entry meant for
    the ~5 s models leaves it alone, and only its own entries change it."""
    five, ten = (catalog.variant("i2v-2.5", "720p", d) for d in (5, 10))
    assert (costs.parse("").of(five), costs.parse("").of(ten)) == (40, 80)
    assert (costs.parse("720p=25").of(five), costs.parse("720p=25").of(ten)) == (40, 80)
    assert costs.parse("720p=25").of(catalog.variant("i2v-14B", "720p")) == 25
    assert (costs.parse("i2v-2.5:720p:10s=90").of(five), costs.parse("i2v-2.5:720p:10s=90").of(ten)) == (40, 90)
    assert costs.parse("i2v-2.5:720p=50").of(ten) == 50  # the model at a resolution: every length
