"""The Replicate emulator speaks the part of Replicate's API we use, to the official client: create by
model and by version, get, cancel, the default webhook secret, and no token, no service."""

from __future__ import annotations

import time

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError

from shared import catalog
from shared.replicate_provider import ProviderError, ReplicateProvider
from wan_local.dev import ThreadedServer
from wan_local.replicate_emulator import ReplicateEmulator


@pytest.fixture
def emulator():
    emulator = ReplicateEmulator()
    emulator.behaviour.auto_run = False
    server = ThreadedServer(emulator.app, "127.0.0.1", 0).start()
    emulator.base_url = f"http://127.0.0.1:{server.port}"
    yield emulator
    ThreadedServer.stop_all([server])


def test_the_official_client_creates_gets_and_cancels(emulator):
    client = replicate.Client(api_token="r8_test", base_url=emulator.base_url)
    by_model = client.models.predictions.create(model="wavespeedai/wan-2.1-t2v-480p", input={"prompt": "a fox"},
                                                webhook="http://127.0.0.1:9/hook", webhook_events_filter=["completed"])
    assert (by_model.status, by_model.model) == ("starting", "wavespeedai/wan-2.1-t2v-480p")
    by_version = client.predictions.create(version="5a6809ca6288247d06daf6365557e5e429063f32a21146b2a807c682652136b8",
                                           input={"prompt": "a cat"})
    assert by_version.status == "starting" and by_version.id != by_model.id
    emulator.finish(by_model.id, "succeeded")
    got = client.predictions.get(by_model.id)
    assert got.status == "succeeded" and got.output.endswith("/output.mp4")
    assert httpx.get(got.output, timeout=30).content[4:8] == b"ftyp"
    assert client.predictions.cancel(by_version.id).status == "canceled"
    assert client.webhooks.default.secret().key == emulator.webhook_secret


def test_no_token_is_401_and_an_unknown_prediction_404(emulator):
    assert httpx.get(f"{emulator.base_url}/v1/predictions/x", timeout=30).status_code == 401
    client = replicate.Client(api_token="r8_test", base_url=emulator.base_url)
    with pytest.raises(ReplicateError) as missing:
        client.predictions.get("nope")
    assert missing.value.status == 404


# --- the emulator validates and answers as Replicate does -------------------------------------------

def _options(v: catalog.Variant) -> list[dict]:
    """Every value our API lets through for one variant, each in a request of its own."""
    base = {"prompt": "a fox", "negative_prompt": None, "seed": None, "aspect_ratio": None,
            "image_url": "IMAGE" if v.kind == "image-to-video" else None}
    cases = [base, base | {"seed": 0}, base | {"seed": 2**32 - 1}]
    cases += [base | {"aspect_ratio": r} for r in v.aspect_ratios]
    if v.replicate.accepts("negative_prompt"):
        cases.append(base | {"negative_prompt": "blurry"})
    return cases


def test_every_catalog_variant_with_every_allowed_option_is_accepted_by_its_model(emulator):
    provider = ReplicateProvider("r8_test", emulator.base_url)
    image_url = f"{emulator.base_url}/files/none/output.mp4"  # any URL: auto_run is off, nothing fetches it
    seen = set()
    for v in catalog.VARIANTS:
        for case in _options(v):
            case = case | ({"image_url": image_url} if case["image_url"] else {})
            sent = catalog.replicate_input(v, **case)
            prediction = provider.create(v, sent, "http://127.0.0.1:9/hook", cancel_after_seconds=2700)
            stored = emulator.predictions[prediction.id].data
            assert (stored["model"], stored["input"]) == (v.replicate_model, sent), (v, case)
            seen.add((v.model, v.resolution))
    assert seen == {(v.model, v.resolution) for v in catalog.VARIANTS}


@pytest.mark.parametrize("model,inputs,field", [
    pytest.param("wavespeedai/wan-2.1-t2v-480p", {"prompt": "p", "aspect_ratio": "1:1"}, "input.aspect_ratio",
                 id="square_video"),
    pytest.param("wan-video/wan-2.1-1.3b", {"prompt": "p", "resolution": "720p"}, "input.resolution",
                 id="1.3b_at_720p"),
    pytest.param("wavespeedai/wan-2.1-i2v-480p", {"prompt": "p"}, "input", id="i2v_without_image"),
    pytest.param("wavespeedai/wan-2.1-t2v-480p", {"prompt": "p", "seed": "seven"}, "input.seed", id="seed_text"),
])
def test_a_value_the_model_cannot_take_is_replicates_422(emulator, model, inputs, field):
    r = httpx.post(f"{emulator.base_url}/v1/models/{model}/predictions", json={"input": inputs},
                   headers={"Authorization": "Bearer r8_test"}, timeout=30)
    assert r.status_code == 422
    body = r.json()
    assert (body["title"], body["status"]) == ("Input validation failed", 422)
    assert [f["field"] for f in body["invalid_fields"]] == [field]
    assert body["detail"].startswith(f"- {field}: ")
    assert emulator.predictions == {}


def test_an_unknown_model_is_404_and_an_input_the_model_lacks_is_dropped(emulator):
    client = replicate.Client(api_token="r8_test", base_url=emulator.base_url)
    with pytest.raises(ReplicateError) as missing:
        client.models.predictions.create(model="wan-video/wan-9-imaginary", input={"prompt": "p"})
    assert missing.value.status == 404
    made = client.models.predictions.create(model="wan-video/wan-2.2-t2v-fast",
                                            input={"prompt": "p", "negative_prompt": "blur"})
    assert emulator.predictions[made.id].data["input"] == {"prompt": "p"}  # silently, as Replicate does


def test_the_prediction_object_is_whole(emulator):
    provider = ReplicateProvider("r8_test", emulator.base_url)
    v = catalog.variant("t2v-14B", "480p")
    pid = provider.create(v, {"prompt": "a fox"}, "http://127.0.0.1:9/hook").id
    data = emulator.predictions[pid].data
    assert set(data["urls"]) == {"get", "cancel", "stream", "web"}
    assert data["urls"]["get"] == f"{emulator.base_url}/v1/predictions/{pid}"
    assert (data["source"], data["webhook"], data["webhook_events_filter"]) == (
        "api", "http://127.0.0.1:9/hook", ["start", "logs", "completed"])
    emulator.finish(pid, "succeeded")
    done = httpx.get(f"{emulator.base_url}/v1/predictions/{pid}", headers={"Authorization": "Bearer r8"}, timeout=30).json()
    assert done["metrics"]["predict_time"] >= 0 and done["metrics"]["total_time"] >= done["metrics"]["predict_time"]
    assert done["data_removed"] is False and done["output"].endswith("/output.mp4")


def test_after_the_retention_the_data_is_removed(emulator):
    client = replicate.Client(api_token="r8_test", base_url=emulator.base_url)
    pid = client.models.predictions.create(model="wavespeedai/wan-2.1-t2v-480p", input={"prompt": "p"}).id
    emulator.finish(pid, "succeeded")
    emulator.behaviour.retention_seconds = 0.0
    got = client._request("GET", f"/v1/predictions/{pid}").json()
    assert (got["data_removed"], got["output"], got["input"], got["status"]) == (True, None, {}, "succeeded")


def test_an_unstarted_prediction_past_its_cancel_after_is_aborted(emulator):
    provider = ReplicateProvider("r8_test", emulator.base_url)
    v = catalog.variant("t2v-14B", "480p")
    created = provider.create(v, {"prompt": "a fox"}, "http://127.0.0.1:9/hook", cancel_after_seconds=1)
    assert emulator.predictions[created.id].cancel_after is not None
    emulator.predictions[created.id].cancel_after = time.time() - 1  # its Cancel-After has passed
    got = provider.get(created.id)
    assert got.status == "aborted" and got.finished
    data = emulator.predictions[created.id].data
    assert "predict_time" not in data["metrics"]  # never ran: not billed


def test_cancel_after_is_sent_as_replicate_takes_it(emulator):
    r = httpx.post(f"{emulator.base_url}/v1/models/wavespeedai/wan-2.1-t2v-480p/predictions",
                   json={"input": {"prompt": "p"}}, headers={"Authorization": "Bearer r8", "Cancel-After": "soon"}, timeout=30)
    assert r.status_code == 400
    before = time.time()
    ReplicateProvider("r8_test", emulator.base_url).create(
        catalog.variant("t2v-14B", "480p"), {"prompt": "p"}, "http://127.0.0.1:9/hook", cancel_after_seconds=2700)
    (pred,) = [p for p in emulator.predictions.values()]
    assert before + 2700 <= pred.cancel_after <= time.time() + 2700


def test_a_rate_limited_create_is_429_with_retry_after(emulator):
    emulator.behaviour.create_status, emulator.behaviour.retry_after = 429, 7
    r = httpx.post(f"{emulator.base_url}/v1/models/wavespeedai/wan-2.1-t2v-480p/predictions",
                   json={"input": {"prompt": "p"}}, headers={"Authorization": "Bearer r8"}, timeout=30)
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    assert r.json()["title"] == "Request was throttled."
    with pytest.raises(ProviderError) as refused:
        ReplicateProvider("r8_test", emulator.base_url).create(
            catalog.variant("t2v-14B", "480p"), {"prompt": "p"}, "http://127.0.0.1:9/hook")
    assert refused.value.status == 429
