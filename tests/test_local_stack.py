"""`wan-api dev` as a newcomer runs it: its own embedded Postgres, the emulator, the README's steps,
and a clean stop; and against a "real" Replicate (the emulator on its own) it fetches the signing
secret from Replicate as the README says."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from shared.settings import Settings
from tests.support import wait_for
from wan_local.dev import DevStack, ThreadedServer
from wan_local.embedded_pg import free_port
from wan_local.replicate_emulator import ReplicateEmulator


def test_wan_api_dev_serves_the_readme_walkthrough_and_stops_cleanly(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REPLICATE_API_TOKEN")}
    env |= {"WAN_DATA_DIR": str(tmp_path / "data"), "WAN_EMULATOR_RUN_SECONDS": "0.25"}
    dev = subprocess.Popen([sys.executable, "-m", "wan_local.cli", "dev", "--port", str(port)], env=env,
                           cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in dev.stdout:
            lines.append(line)
            if "ready" in line:
                break
        banner = "".join(lines)
        assert "embedded Postgres" in banner and "emulator" in banner
        assert f"POST  http://127.0.0.1:{port}/text-to-video" in banner
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            token = http.post("/dev/signup", json={"email": "me@example.com"}).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            gen = http.post("/text-to-video", headers=auth, json={
                "prompt": "a red fox running through fresh snow", "model": "t2v-14B", "resolution": "480p"}).json()
            done = wait_for(lambda: (s := http.get("/status", params={"generation_id": gen["generation_id"]},
                                                   headers=auth).json())["video_url"]
                            and s["video_url"].startswith(f"http://127.0.0.1:{port}/files/") and s)
            assert done["status"] == "succeeded"
            assert httpx.get(done["video_url"]).content[4:8] == b"ftyp"
        began = time.monotonic()
        dev.send_signal(signal.SIGTERM)
        assert dev.wait(timeout=30) == 0
        assert time.monotonic() - began < 15
    finally:
        if dev.poll() is None:
            dev.kill()


def test_against_replicate_the_stack_fetches_the_accounts_webhook_secret(db_url, tmp_path):
    replicate = ReplicateEmulator()
    server = ThreadedServer(replicate.app, "127.0.0.1", 0).start()
    replicate.base_url = f"http://127.0.0.1:{server.port}"
    settings = Settings(_env_file=None, database_url=db_url, wan_data_dir=str(tmp_path), supabase_url=None,
                        supabase_jwt_secret=None, replicate_webhook_secret=None, webhook_url=None,
                        replicate_api_token="r8_real_looking", replicate_base_url=replicate.base_url)
    stack = DevStack(settings, port=0, sweep=False).start()
    try:
        assert stack.emulator is None
        assert stack.settings.replicate_webhook_secret == replicate.webhook_secret
        replicate.behaviour.run_seconds = 0.1
        with httpx.Client(base_url=stack.url) as http:
            token = http.post("/dev/signup", json={"email": "r@example.com"}).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            gen_id = http.post("/text-to-video", headers=auth, json={
                "prompt": "p", "model": "t2v-14B", "resolution": "480p"}).json()["generation_id"]
            wait_for(lambda: http.get("/status", params={"generation_id": gen_id}, headers=auth).json()["terminal"])
        assert {d["status"] for d in replicate.deliveries} == {200}  # its signatures were accepted
    finally:
        stack.stop()
        ThreadedServer.stop_all([server])
