"""The Replicate emulator speaks the part of Replicate's API we use, to the official client: create by
model and by version, get, cancel, the default webhook secret, and no token, no service."""

from __future__ import annotations

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError

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
    assert httpx.get(got.output).content[4:8] == b"ftyp"
    assert client.predictions.cancel(by_version.id).status == "canceled"
    assert client.webhooks.default.secret().key == emulator.webhook_secret


def test_no_token_is_401_and_an_unknown_prediction_404(emulator):
    assert httpx.get(f"{emulator.base_url}/v1/predictions/x").status_code == 401
    client = replicate.Client(api_token="r8_test", base_url=emulator.base_url)
    with pytest.raises(ReplicateError) as missing:
        client.predictions.get("nope")
    assert missing.value.status == 404
