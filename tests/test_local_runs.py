"""Local runs a frontend developer can build against (issue 16, items 3-5): the emulator keeps its
predictions in WAN_DATA_DIR so a restart of the stack mid-generation is a non-event; its runs last
WAN_EMULATOR_RUN_SECONDS with progress in the logs and throttled `logs` events that move the
generation's progress; its video has the requested shape; the README's sample frame exists."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import httpx
import pytest

from shared import catalog
from shared.replicate_provider import ReplicateProvider
from shared.settings import Settings
from tests.support import Api, wait_for
from wan_local.dev import DevStack, ThreadedServer
from wan_local.embedded_pg import free_port
from wan_local.replicate_emulator import STEPS, ReplicateEmulator

ROOT = Path(__file__).resolve().parent.parent
FULL_LOGS = "".join(f"{p}%\n" for p in range(5, 100, 5)) + "100%\n"  # each percentage exactly once


def served(emulator: ReplicateEmulator, port: int = 0) -> ThreadedServer:
    server = ThreadedServer(emulator.app, "127.0.0.1", port).start()
    emulator.base_url = f"http://127.0.0.1:{server.port}"
    return server


def video_size(mp4: bytes) -> tuple[int, int]:
    """Width and height from the MP4's track header (tkhd: 16.16 fixed point at its end)."""
    at = mp4.index(b"tkhd") + 4
    version = mp4[at]
    offset = at + 4 + (32 if version == 1 else 20) + 8 + 8 + 36
    width, height = struct.unpack(">II", mp4[offset:offset + 8])
    return width >> 16, height >> 16


def test_the_emulator_keeps_predictions_in_its_directory_and_resumes_an_unfinished_run(tmp_path):
    first = ReplicateEmulator(state_dir=tmp_path)
    # A slow first run (1 s a step): stopped after its first step, it is surely mid-run, however
    # loaded the machine; the resumed run has its own, quick pace.
    first.behaviour.run_seconds = 20.0
    server = served(first)
    provider = ReplicateProvider("r8_test", first.base_url)
    pid = provider.create(catalog.variant("t2v-14B", "480p"), {"prompt": "a fox"}, "http://127.0.0.1:9/hook").id
    wait_for(lambda: "5%" in first.predictions[pid].data["logs"])
    first.close()  # the process stops mid-run
    ThreadedServer.stop_all([server])
    stopped_at = json.loads((tmp_path / f"{pid}.json").read_text())["data"]
    assert stopped_at["status"] == "processing" and stopped_at["logs"] != FULL_LOGS

    second = ReplicateEmulator(state_dir=tmp_path)
    second.behaviour.run_seconds = 2.0
    server = served(second)
    try:
        provider = ReplicateProvider("r8_test", second.base_url)
        assert provider.get(pid).status == "processing"  # known before it resumes
        second.resume()
        done = wait_for(lambda: (p := provider.get(pid)).finished and p)
        assert (done.status, done.progress) == ("succeeded", 100)
        data = second.predictions[pid].data
        assert data["logs"] == FULL_LOGS  # went on from where it stopped: no step twice, none lost
        assert data["urls"]["get"] == f"{second.base_url}/v1/predictions/{pid}"
        assert httpx.get(done.output_url, timeout=30).content[4:8] == b"ftyp"
        assert first.predictions[pid].data["status"] == "processing"  # the closed one did not run on
    finally:
        ThreadedServer.stop_all([server])


def test_without_a_directory_the_emulator_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    emulator = ReplicateEmulator()
    emulator.behaviour.auto_run = False
    server = served(emulator)
    try:
        ReplicateProvider("r8_test", emulator.base_url).create(
            catalog.variant("t2v-14B", "480p"), {"prompt": "a fox"}, "http://127.0.0.1:9/hook")
        assert len(emulator.predictions) == 1 and list(tmp_path.iterdir()) == []
    finally:
        ThreadedServer.stop_all([server])


def test_logs_and_output_events_are_sent_as_replicate_throttles_them():
    emulator = ReplicateEmulator()
    emulator.behaviour.run_seconds, emulator.behaviour.webhook_retries = 2.0, 1
    server = served(emulator)
    try:
        client_body = {"input": {"prompt": "a fox"}, "webhook": "http://127.0.0.1:9/hook",
                       "webhook_events_filter": ["start", "logs", "output", "completed"]}
        pid = httpx.post(f"{emulator.base_url}/v1/models/wavespeedai/wan-2.1-t2v-480p/predictions",
                         json=client_body, headers={"Authorization": "Bearer r8"}, timeout=30).json()["id"]
        wait_for(lambda: any(d["event"] == "completed" for d in list(emulator.deliveries)))
        events = [d["event"] for d in emulator.deliveries]
        assert events[0] == "start" and events[-2:] == ["output", "completed"]
        logs = [d for d in emulator.deliveries if d["event"] == "logs"]
        # 19 log lines printed, but at most one `logs` event per 500 ms, each carrying all logs so far.
        assert 1 <= len(logs) < STEPS - 1
        assert all(b["sent_at"] - a["sent_at"] >= 0.5 for a, b in zip(logs, logs[1:]))
        assert all(json.loads(d["body"])["logs"].endswith("%\n") for d in logs)
        assert json.loads(emulator.deliveries[-1]["body"])["logs"] == FULL_LOGS
        assert emulator.predictions[pid].data["webhook_events_filter"] == client_body["webhook_events_filter"]
    finally:
        ThreadedServer.stop_all([server])


@pytest.mark.parametrize(("ratio", "size"), [("16:9", (320, 180)), ("9:16", (180, 320))])
def test_the_emulated_video_has_the_requested_shape(ratio, size):
    emulator = ReplicateEmulator()
    emulator.behaviour.auto_run = False
    server = served(emulator)
    try:
        provider = ReplicateProvider("r8_test", emulator.base_url)
        pid = provider.create(catalog.variant("t2v-14B", "480p"), {"prompt": "a fox", "aspect_ratio": ratio},
                              "http://127.0.0.1:9/hook").id
        emulator.finish(pid)
        video = httpx.get(provider.get(pid).output_url, timeout=30).content
        assert video_size(video) == size
        assert b"avc1" in video  # H.264, which Chromium plays
    finally:
        ThreadedServer.stop_all([server])


def test_the_readmes_image_to_video_line_uses_the_shipped_sample_frame(api):
    line = next(l for l in (ROOT / "README.md").read_text().splitlines() if "-F image=@" in l)
    frame = ROOT / re.search(r"-F image=@(\S+)", line).group(1)
    assert frame.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and frame.stat().st_size < 20_000
    r = api.image_to_video(api.token(), frame.read_bytes(), filename=frame.name)
    assert r.status_code == 202, r.text
    assert api.stack.emulator.creates[-1]["input"]["aspect_ratio"] == "16:9"  # a landscape frame


def test_a_restart_of_the_stack_mid_generation_is_a_non_event(db_url, tmp_path):
    """Stop `wan-api dev` while a generation runs and start it again on the same data directory:
    the generation goes on (its progress moved by `logs` events alone) and succeeds, charged once."""
    settings = Settings(_env_file=None, database_url=db_url, wan_data_dir=str(tmp_path / "wan-data"),
                        replicate_api_token=None, replicate_webhook_secret=None, supabase_url=None,
                        supabase_service_role_key=None, supabase_jwt_secret=None, webhook_url=None,
                        public_base_url=None, wan_emulator_run_seconds=6.0,
                        request_rate_per_minute=100_000)  # it polls status far more often than a client
    port = free_port()
    stack = DevStack(settings, port=port, sweep=False, db_role="service_role").start()
    # The first run is slow (1 s a step), so the stop below lands mid-run however loaded the machine;
    # the restarted stack resumes it at the settings' pace.
    stack.emulator.behaviour.run_seconds = 20.0
    try:
        with Api(stack) as api:
            token = api.token()
            gen_id = api.text_to_video(token).json()["generation_id"]
            moving = wait_for(lambda: 0 < (s := api.status(token, gen_id).json())["progress"] < 100 and s)
            assert moving["status"] == "processing"
            assert stack.emulator.gets == []  # the progress came with `logs` webhooks, not from polls
            assert any(d["event"] == "logs" and d["status"] == 200 for d in stack.emulator.deliveries)
            pid = api.prediction_of(gen_id)
    finally:
        stack.stop()
    emulator_url = stack.emulator.base_url
    assert stack.emulator.predictions[pid].data["status"] == "processing"  # stopped mid-run

    stack = DevStack(settings, port=port, sweep=False, db_role="service_role").start()
    try:
        assert stack.emulator.base_url == emulator_url  # the same port again: recorded URLs stay valid
        with Api(stack) as api:
            done = wait_for(lambda: (s := api.status(token, gen_id).json())["terminal"] and s, timeout=30)
            assert (done["status"], done["progress"], done["refunded"]) == ("succeeded", 100, False)
            assert stack.emulator.creates == []  # the same prediction finished; nothing was started again
            assert stack.emulator.predictions[pid].data["logs"] == FULL_LOGS
            video = wait_for(lambda: (s := api.status(token, gen_id).json())["video_url"].startswith(stack.url) and s)
            assert httpx.get(video["video_url"], timeout=30).content[4:8] == b"ftyp"
            assert api.balance(token) == 90  # charged once, not refunded
    finally:
        stack.stop()
