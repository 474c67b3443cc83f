"""Helpers shared by the tests: users signed up as Supabase Auth does, balances, ledgers."""

from __future__ import annotations

import shutil
import tempfile
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path


def make_user(conn, *, email: str | None = None, anonymous: bool = False) -> uuid.UUID:
    """Sign a user up the way Supabase Auth does: a row in auth.users (the trigger does the rest)."""
    email = email if email is not None or anonymous else f"{uuid.uuid4().hex[:10]}@example.com"
    (user_id,) = conn.execute(
        "insert into auth.users (email, is_anonymous) values (%s, %s) returning id", (email, anonymous)
    ).fetchone()
    return user_id


def balance(conn, user_id) -> int:
    return conn.execute("select credits from public.profiles where id = %s", (user_id,)).fetchone()[0]


def ledger(conn, user_id) -> list[tuple]:
    """The user's ledger, oldest first, as (type, amount, balance_after, generation_id)."""
    return conn.execute(
        "select type, amount, balance_after, generation_id from public.credit_transactions "
        "where user_id = %s order by id", (user_id,)
    ).fetchall()


class Api:
    """An HTTP client of the local stack, with the calls a frontend makes."""

    def __init__(self, stack):
        import httpx

        self.stack = stack
        self.http = httpx.Client(base_url=stack.url, timeout=30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.http.close()

    def signup(self, email: str | None = None) -> tuple[str, str]:
        """A new user (100 credits): (user_id, access token)."""
        email = email or f"{uuid.uuid4().hex[:12]}@example.com"
        body = self.http.post("/dev/signup", json={"email": email}).json()
        return body["user_id"], body["access_token"]

    def token(self, email: str | None = None) -> str:
        return self.signup(email)[1]

    @staticmethod
    def auth(token: str, **headers: str) -> dict:
        return {"Authorization": f"Bearer {token}", **headers}

    def text_to_video(self, token: str, *, key: str | None = None, **body):
        body = {"prompt": "a red fox running through snow", "model": "t2v-14B", "resolution": "480p"} | body
        headers = self.auth(token, **({"Idempotency-Key": key} if key else {}))
        return self.http.post("/text-to-video", json=body, headers=headers)

    def image_to_video(self, token: str, image: bytes, *, filename: str = "frame.png",
                       content_type: str = "image/png", key: str | None = None, **fields):
        fields = {"prompt": "the fox turns its head", "model": "i2v-14B", "resolution": "480p"} | fields
        headers = self.auth(token, **({"Idempotency-Key": key} if key else {}))
        return self.http.post("/image-to-video", data=fields, files={"image": (filename, image, content_type)},
                              headers=headers)

    def status(self, token: str, generation_id: str):
        return self.http.get("/status", params={"generation_id": generation_id}, headers=self.auth(token))

    def credits(self, token: str) -> dict:
        return self.http.get("/credits", headers=self.auth(token)).json()

    def balance(self, token: str) -> int:
        return self.credits(token)["balance"]

    def start_generation(self, token: str | None = None) -> tuple[str, str, str]:
        """A charged generation whose job runs at the emulator: (token, generation id, prediction id).
        Waits for the emulator's own `start` delivery, so that it cannot race the test's."""
        token = token or self.token()
        gen_id = self.text_to_video(token).json()["generation_id"]
        pid = self.prediction_of(gen_id)
        emulator = self.stack.emulator
        if emulator.behaviour.deliver_webhooks:
            wait_for(lambda: any(d["event"] == "start" and pid in d["body"] and d["status"] == 200
                                 for d in list(emulator.deliveries)))
        return token, gen_id, pid

    def prediction_of(self, generation_id: str) -> str:
        """The emulator's prediction id for one of our generations (from the webhook URL it got)."""
        for pid, pred in self.stack.emulator.predictions.items():
            if pred.webhook and pred.webhook.endswith(f"generation_id={generation_id}"):
                return pid
        raise AssertionError(f"no prediction was created for {generation_id}")


def assert_error(response, status: int, code: str) -> dict:
    """The contract's error shape: the status, the code, and a detail a person can read."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["detail"], str) and len(body["detail"]) > 10, body
    return body


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05):
    """Poll until predicate() is truthy (for work the service does in the background). The timeout
    only bounds a test that would otherwise hang: far above any healthy wait, also on a loaded machine."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the condition")
        time.sleep(interval)


def run_at_once(n: int, action) -> list:
    """Run action(i) in n threads released together; return each result or raised exception."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i):
        barrier.wait()
        try:
            results[i] = action(i)
        except Exception as exc:  # noqa: BLE001 - the test inspects what each call raised
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


class RecordedHttp:
    """A loopback HTTP server that answers (method, path) with recorded (status, JSON body) pairs and
    records every request: stands in for Supabase's REST and Storage APIs, which do not run here."""

    def __init__(self):
        import json
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[dict] = []
        self.answers: dict[tuple[str, str], tuple[int, object]] = {}
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path = self.path.split("?")[0]
                recorder.requests.append({"method": self.command, "path": path,
                                          "headers": {k.lower(): v for k, v in self.headers.items()},
                                          "body": body})
                status, answer = recorder.answers[(self.command, path)]
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_PUT = do_GET = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def json(self, index: int):
        import json

        return json.loads(self.requests[index]["body"] or b"null")

    def close(self) -> None:
        self.server.shutdown()



@contextmanager
def postgres_tmp_dir():
    """A temporary directory an embedded Postgres can live in. As root the server runs as an
    unprivileged user that must pass through every parent, and pytest's own temporary root is 0700
    and set back to 0700 by every pytest session that starts (several share it on one machine), which
    would cut a running server off its files. So: a directory of our own directly under the system's
    temporary directory (world-passable), enterable but not listable (the stack never widens a
    directory it did not make)."""
    path = Path(tempfile.mkdtemp(prefix="wan-test-"))
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
