"""The video copy fetches only from allowed hosts (issue 11, item 3): an output URL that names our
own network, the database port or the cloud metadata address is never requested, redirects are
checked too, the bytes must be an MP4, and video_url is never an unvetted URL."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.output_urls import OutputPolicy, UnsafeOutputUrl
from tests.support import wait_for


class TinyServer:
    """A loopback server: each path answers (status, headers, body) and every request is recorded."""

    def __init__(self, routes: dict[str, tuple[int, dict, bytes]]):
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits.append(self.path)
                status, headers, body = routes.get(self.path, (404, {}, b""))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.httpd.shutdown()


MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64


@pytest.fixture
def internal():
    """A service of 'our network' that no prediction may make us fetch."""
    server = TinyServer({"/secret": (200, {"Content-Type": "video/mp4"}, MP4)})
    yield server
    server.close()


def _succeed_with(api, db, output, **settings_changes):
    if settings_changes:
        svc = api.stack.services
        svc.settings = svc.settings.model_copy(update=settings_changes)
    token, gen_id, pid = api.start_generation()
    raw = json.dumps({"id": pid, "status": "succeeded", "output": output, "logs": "100%"})
    r = api.http.post("/webhooks/replicate", params={"generation_id": gen_id}, content=raw,
                      headers=api.stack.emulator.signed_headers(raw))
    assert r.status_code == 200, r.text
    wait_for(lambda: db.execute("select video_path is not null or video_lost or video_copy_attempts > 0 "
                                "from public.generations where id = %s", (gen_id,)).fetchone()[0])
    return token, gen_id


@pytest.mark.parametrize("make_output", [
    pytest.param(lambda api, internal: f"http://{internal.host}/secret", id="loopback_service"),
    pytest.param(lambda api, internal: f"{api.stack.url}/pricing", id="our_own_api"),
    pytest.param(lambda api, internal: "http://169.254.169.254/latest/meta-data/", id="cloud_metadata"),
    pytest.param(lambda api, internal: f"http://{api.stack.settings.database_url.split('@')[1].split('/')[0]}/",
                 id="database_port"),
    pytest.param(lambda api, internal: "file:///etc/passwd", id="file_url"),
    pytest.param(lambda api, internal: "javascript:alert(document.cookie)", id="javascript_url"),
])
def test_an_output_off_the_allowed_hosts_is_never_fetched_nor_served(api, db, internal, make_output):
    token, gen_id = _succeed_with(api, db, make_output(api, internal))
    assert internal.hits == []
    row = db.execute("select video_path, video_lost from public.generations where id = %s", (gen_id,)).fetchone()
    assert row == (None, True)
    body = api.status(token, gen_id).json()
    assert body["status"] == "succeeded" and body["video_url"] is None


def test_a_redirect_off_the_allowed_hosts_is_not_followed(api, db, internal):
    allowed = TinyServer({"/out.mp4": (302, {"Location": f"http://{internal.host}/secret"}, b"")})
    try:
        token, gen_id = _succeed_with(api, db, f"http://{allowed.host}/out.mp4", replicate_output_hosts=allowed.host)
        assert allowed.hits == ["/out.mp4"] and internal.hits == []
        assert db.execute("select video_path from public.generations where id = %s", (gen_id,)).fetchone() == (None,)
    finally:
        allowed.close()


def test_an_allowed_host_is_copied_as_video_mp4_following_allowed_redirects(api, db):
    cdn = TinyServer({"/a": (302, {"Location": "/b"}, b""),
                      "/b": (200, {"Content-Type": "application/octet-stream"}, MP4)})
    try:
        token, gen_id = _succeed_with(api, db, f"http://{cdn.host}/a", replicate_output_hosts=f"cdn.example, {cdn.host}")
        assert cdn.hits == ["/a", "/b"]
        (path,) = db.execute("select video_path from public.generations where id = %s", (gen_id,)).fetchone()
        assert (api.stack.data_dir / "storage" / path).read_bytes() == MP4
        import httpx

        video = httpx.get(api.status(token, gen_id).json()["video_url"], timeout=30)
        assert video.headers["content-type"] == "video/mp4" and video.content == MP4
    finally:
        cdn.close()


def test_bytes_that_are_not_an_mp4_are_not_stored(api, db):
    cdn = TinyServer({"/page": (200, {"Content-Type": "video/mp4"}, b"<html>metadata credentials</html>" * 3)})
    try:
        token, gen_id = _succeed_with(api, db, f"http://{cdn.host}/page", replicate_output_hosts=cdn.host)
        row = db.execute("select video_path, video_copy_error from public.generations where id = %s", (gen_id,)).fetchone()
        assert row[0] is None and "not an MP4" in row[1]
    finally:
        cdn.close()


def test_replicate_delivery_hosts_must_resolve_to_public_addresses():
    policy = OutputPolicy("https://api.replicate.com")

    def resolving_to(address):
        return lambda host, port, type=None: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    policy.check_fetch("https://replicate.delivery/x/out.mp4", resolve=resolving_to("104.18.2.3"))
    for address in ("127.0.0.1", "10.0.0.5", "169.254.169.254", "192.168.1.1", "0.0.0.0"):
        with pytest.raises(UnsafeOutputUrl):
            policy.check_fetch("https://pbxt.replicate.delivery/x/out.mp4", resolve=resolving_to(address))
    for url in ("http://replicate.delivery/x.mp4", "https://replicate.delivery.evil.com/x.mp4",
                "https://api.replicate.com/v1/files/x", "https://replicate.delivery:8443/x.mp4"):
        assert not policy.allowed(url), url


def test_modals_copy_function_raises_on_a_failed_copy_so_its_retries_act(api, db, monkeypatch):
    """copy_video has retries=2 on Modal, which only acts when the function raises: a copy that failed
    (and may work next time) must raise, one that is done or lost must not."""
    import modal_app
    from shared import services

    monkeypatch.setattr(services, "_services", api.stack.services)
    monkeypatch.setattr(api.stack.services, "start_video_copy", lambda generation_id: None)  # copy by hand
    cdn = TinyServer({"/v.mp4": (503, {}, b"")})
    try:
        api.stack.services.settings = api.stack.services.settings.model_copy(
            update={"replicate_output_hosts": cdn.host})
        token, gen_id, pid = api.start_generation()
        raw = json.dumps({"id": pid, "status": "succeeded", "output": f"http://{cdn.host}/v.mp4"})
        api.http.post("/webhooks/replicate", params={"generation_id": gen_id}, content=raw,
                      headers=api.stack.emulator.signed_headers(raw))
        with pytest.raises(RuntimeError, match="Modal retries it"):
            modal_app.copy_video.local(gen_id)
        db.execute("update public.generations set output_url = %s where id = %s",
                   ("javascript:alert(1)", gen_id))
        assert modal_app.copy_video.local(gen_id) == "lost"
    finally:
        cdn.close()
