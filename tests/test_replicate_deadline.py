"""REPLICATE_TIMEOUT_SECONDS bounds a whole create, not each read (issue 11, item 7): a Replicate that
answers one byte at a time held a create for 32 s with the setting at 3."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from shared.catalog import variant
from shared.replicate_provider import ProviderError, ReplicateProvider


class DrippingServer:
    """A loopback HTTP server that answers a valid prediction one byte every `interval` seconds
    (in headers, then in the body, as chosen), so that no single read ever waits long."""

    def __init__(self, *, interval: float, drip_headers: bool):
        body = json.dumps({"id": "drip1", "status": "starting", "input": {}, "output": None, "logs": "",
                           "error": None, "urls": {}, "model": "m", "version": "v", "created_at": None})
        head = f"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        self.slow, self.fast = (head + body, "") if drip_headers else (body, head)
        self.interval = interval
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.finished = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        conn, _ = self.sock.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            try:
                conn.sendall(self.fast.encode())
                for ch in self.slow:
                    conn.sendall(ch.encode())
                    time.sleep(self.interval)
            except OSError:
                pass  # the client gave up: what we want
            self.finished.set()

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("drip_headers", [True, False], ids=["headers", "body"])
def test_a_dripping_replicate_cannot_hold_a_create_past_the_timeout(drip_headers):
    # ~300 bytes at 30 ms each: about 9 s in all, while each read waits only 30 ms. With a 1 s total
    # deadline the create fails (and is then refunded by its caller); bounding each read alone, the
    # old transport waited the whole 9 s and then returned the prediction.
    server = DrippingServer(interval=0.03, drip_headers=drip_headers)
    provider = ReplicateProvider("r8_test", server.url, timeout_seconds=1.0)
    try:
        with pytest.raises(ProviderError, match="[Tt]imeout"):
            provider.create(variant("t2v-14B", "480p"), {"prompt": "p"}, "http://127.0.0.1:9/webhook")
        assert not server.finished.is_set()  # the answer had not been completely sent
    finally:
        server.close()


def test_a_prompt_replicate_still_answers_within_the_deadline(stack):
    provider = ReplicateProvider("r8_test", stack.settings.replicate_base_url, timeout_seconds=30.0)  # a bound
    for _ in range(3):  # the deadline is per request, also on a reused connection
        prediction = provider.create(variant("t2v-14B", "480p"), {"prompt": "p"}, f"{stack.url}/webhooks/replicate")
        assert prediction.status == "starting"
