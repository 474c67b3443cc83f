"""`scripts/bench --only push` (issue 23): webhook deliveries, the status stream, GET /status's 304,
and what a shared cache (Redis) could save on GET /status. Ratios against floors measured in the
same run; the local stack in this process (the figures are relative, not production's)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import socket
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import psycopg

from bench.__main__ import _drive, _percentiles, new_database, report


class _Receiver:
    """A developer's endpoint on loopback: answers `code`, notes when each webhook-id arrived."""

    def __init__(self, code: int = 200):
        self.code, self.arrived, self.arrived_wall = code, {}, {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers["content-length"]))
                receiver.arrived.setdefault(self.headers.get("webhook-id"), time.perf_counter())
                receiver.arrived_wall.setdefault(self.headers.get("webhook-id"), time.time())
                self.send_response(receiver.code)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _stack(url: str, data: str):
    from shared.settings import Settings
    from wan_local.dev import DevStack

    stack = DevStack(Settings(_env_file=None, database_url=url, wan_data_dir=data, replicate_api_token=None,
                              supabase_url=None, supabase_jwt_secret=None, webhook_url=None,
                              replicate_webhook_secret=None, public_base_url=None, request_rate_per_minute=10**9,
                              create_rate_per_minute=10**9, max_active_generations=10**6,
                              max_creates_per_minute=10**9), port=0, sweep=False).start()
    stack.emulator.behaviour.auto_run = False
    return stack


def _wait(predicate, timeout=20.0):
    ends = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > ends:
            raise TimeoutError("condition not met")
        time.sleep(0.001)


def push(pg, samples: int = 30, streams: int = 200, stream_seconds: float = 20.0) -> None:
    from shared import deliveries

    url = new_database(pg, "bench_push")
    with tempfile.TemporaryDirectory() as data:
        stack = _stack(url, data)
        receiver = _Receiver()
        try:
            with httpx.Client(base_url=stack.url, timeout=30) as http:
                token = http.post("/dev/signup", json={"email": "push@bench.example"}).json()["access_token"]
                auth = {"Authorization": f"Bearer {token}"}
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("update public.profiles set credits = 10000000")
                    conn.execute("update public.credit_transactions set balance_after = 10000000")

                def create(**extra):
                    r = http.post("/text-to-video", headers=auth, json={
                        "prompt": "a fox", "model": "t2v-14B", "resolution": "480p", **extra})
                    assert r.status_code == 202, r.text
                    gen = r.json()["generation_id"]
                    pid = next(p for p, pred in stack.emulator.predictions.items()
                               if pred.webhook.endswith(gen))
                    return gen, pid

                _deliveries_latency(stack, receiver, create, samples)
                _creates_beside_failing_deliveries(stack, url, create, samples)
                _status_cpu(stack, token, create)
                _stream_cost(stack, token, create, streams, stream_seconds)
                _shared_cache(stack, create, token)
        finally:
            receiver.close()
            stack.stop()
    del deliveries


def _deliveries_latency(stack, receiver, create, samples: int) -> None:
    """Replicate's completed webhook arriving -> the developer's receiver answering 200, against one
    signed POST made by hand to the same receiver; and the Replicate webhook's own time with and
    without a delivery to make."""
    from shared.deliveries import signed_headers

    emulator = stack.emulator
    hand = _Receiver()  # the same kind of receiver, apart, so that its arrivals are not counted as deliveries
    delivery, webhook_with, webhook_without, by_hand = [], [], [], []
    secret = stack.services.backend.call("webhook_secret", p_user_id=_user(stack))["secret"]
    with httpx.Client() as http:
        from datetime import datetime, timezone

        for i in range(samples):
            gen, pid = create(webhook_url=receiver.url)
            began = time.perf_counter()
            emulator.finish(pid)  # POSTs the signed webhook to our endpoint and waits for its answer
            webhook_with.append(time.perf_counter() - began)
            _wait(lambda: len(receiver.arrived) > i)
            # From the moment the webhook's transaction settled the generation (completed_at, the
            # database's clock, this machine's) to the receiver's arrival (wall clock).
            with psycopg.connect(stack.settings.database_url) as conn:
                settled = conn.execute("select extract(epoch from completed_at) from public.generations "
                                       "where id = %s", (gen,)).fetchone()[0]
            delivery.append(receiver.arrived_wall[max(receiver.arrived, key=receiver.arrived.get)] - float(settled))
            _, pid = create()
            began = time.perf_counter()
            emulator.finish(pid)
            webhook_without.append(time.perf_counter() - began)
            body = b'{"type":"generation.completed","data":{}}'
            began = time.perf_counter()
            r = http.post(hand.url, content=body, headers=signed_headers(f"msg_hand{i}", body, [secret],
                                                                             datetime.now(timezone.utc)))
            assert r.status_code == 200
            by_hand.append(time.perf_counter() - began)
    hand.close()
    d50, h50 = _percentiles(delivery)[0], _percentiles(by_hand)[0]
    report("push: delivery, Replicate webhook -> receiver", d50, h50, "ms p50", "<= 1.5x", d50 <= 1.5 * h50, d50 / h50)
    w50, wo50 = _percentiles(webhook_with)[0], _percentiles(webhook_without)[0]
    report("push: Replicate webhook with a delivery", w50, wo50, "ms p50", "<= 1.1x", w50 <= 1.1 * wo50, w50 / wo50)


def _user(stack) -> str:
    with psycopg.connect(stack.settings.database_url) as conn:
        return str(conn.execute("select id from auth.users where email = 'push@bench.example'").fetchone()[0])


_SENDER = """
import sys
from shared.deliveries import send_due
from shared.settings import Settings
from wan_local.dev import operator_services
svc = operator_services(Settings(_env_file=None, database_url=sys.argv[1], wan_data_dir=sys.argv[2],
                                 webhook_allow_loopback=True, replicate_api_token="r8_bench", supabase_url=None))
print(dict(send_due(svc, budget_seconds=60)))
"""


def _creates_beside_failing_deliveries(stack, url: str, create, samples: int) -> None:
    """1,000 pending deliveries to a receiver answering 500, being sent, while creates are timed."""
    failing = _Receiver(500)
    try:
        def timed():
            out = []
            for _ in range(samples):
                began = time.perf_counter()
                create()
                out.append(time.perf_counter() - began)
            return _percentiles(out)[0]

        quiet = timed()
        gen, _ = create(webhook_url=failing.url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("""insert into public.webhook_deliveries (event_id, generation_id, user_id, type, url, payload)
                            select 'msg_bench' || n, g.id, g.user_id, 'generation.progress', %s, public._generation_json(g)
                              from public.generations g, generate_series(1, 1000) n where g.id = %s""",
                         (failing.url, gen))
        # The sender in its own process, as on Modal (a spawned function): what is measured is what
        # it costs the database and the machine, not this process's GIL.
        sender = subprocess.Popen([sys.executable, "-c", _SENDER, url, stack.settings.wan_data_dir],
                                  stdout=subprocess.PIPE, text=True)
        with psycopg.connect(url, autocommit=True) as conn:  # timed once it is sending
            _wait(lambda: conn.execute("select count(*) from public.webhook_deliveries where attempts > 0 "
                                       "and event_id like 'msg_bench%%'").fetchone()[0] > 0, timeout=60)
            busy = timed()
            sent = conn.execute("select count(*) from public.webhook_deliveries where attempts > 0 "
                                "and event_id like 'msg_bench%%'").fetchone()[0]
        sender.wait(timeout=120)
        report("push: create p50 beside 1,000 failing deliveries", busy, quiet, "ms p50", "<= 1.1x",
               busy <= 1.1 * quiet, busy / quiet)
        report("  info: failing deliveries attempted by then", sent, None, "rows", "info", True)
    finally:
        failing.close()


def _status_cpu(stack, token: str, create) -> None:
    """GET /status's CPU in-process: 200 and 304, against the one-route FastAPI floor."""
    from bench.floor_app import _framework_floor
    from shared.app import create_app

    gen, pid = create()
    stack.emulator.finish(pid)
    app = create_app(*stack.routers(), services=stack.services, docs_url=None)
    with httpx.Client(base_url=stack.url) as http:
        tag = http.get("/status", params={"generation_id": gen}, headers={"Authorization": f"Bearer {token}"}).headers["etag"]

    def one_statement():
        with stack.services.backend.pool.connection() as conn:
            conn.execute("select 1").fetchone()

    base = [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())]
    cases = {"200": (app, "/status", base), "304": (app, "/status", base + [(b"if-none-match", tag.encode())]),
             "floor": (_framework_floor(one_statement), "/fastapi-one", base)}
    loop = asyncio.new_event_loop()
    cpu = {name: [] for name in cases}
    n = 200
    for round_ in range(6):
        for name, (target, path, headers) in cases.items():
            began = time.process_time()
            statuses = loop.run_until_complete(_drive(target, path, f"generation_id={gen}", headers, n))
            assert set(statuses) == {int(name) if name != "floor" else 200}, (name, set(statuses))
            if round_:
                cpu[name].append((time.process_time() - began) * 1e6 / n)
    loop.close()
    us = {name: statistics.median(v) for name, v in cpu.items()}
    for name in ("200", "304"):
        report(f"push: GET /status CPU, {name}", us[name], us["floor"], "µs", "<= 1.5x",
               us[name] <= 1.5 * us["floor"], us[name] / us["floor"])
    report("push: GET /status CPU, 304 vs 200", us["304"], us["200"], "µs", "<= 0.8x", us["304"] <= 0.8 * us["200"],
           us["304"] / us["200"])


def _rss_kb() -> int:
    with open(f"/proc/{os.getpid()}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


def _stream_cost(stack, token: str, create, streams: int, seconds: float) -> None:
    """`streams` open status streams (one per generation) in this process for `seconds`: the database
    calls they make, per minute, against 200 clients polling GET /status once a second."""
    backend = stack.services.backend
    calls = {"n": 0}
    real = backend.call

    def counted(function, **params):
        calls["n"] += 1
        return real(function, **params)

    gens = [create()[0] for _ in range(streams)]
    rss_before = _rss_kb()

    async def run():
        async with httpx.AsyncClient(base_url=stack.url, timeout=seconds + 30,
                                     limits=httpx.Limits(max_connections=streams + 10)) as http:
            async def one(gen):
                async with http.stream("GET", "/status/stream", params={"generation_id": gen},
                                       headers={"Authorization": f"Bearer {token}"}) as r:
                    async for _ in r.aiter_bytes():
                        pass

            tasks = [asyncio.create_task(one(g)) for g in gens]
            await asyncio.sleep(2)  # all open
            backend.call = counted
            began = time.monotonic()
            await asyncio.sleep(seconds)
            elapsed = time.monotonic() - began
            rss = _rss_kb()
            backend.call = real
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return elapsed, rss

    elapsed, rss = asyncio.run(run())
    per_minute = calls["n"] * 60 / elapsed
    polling = streams * 60
    report(f"push: {streams} open streams, DB calls/min", per_minute, polling, "calls", "<= 1x",
           per_minute <= polling, per_minute / polling)
    report(f"  info: {streams} open streams, RSS growth (clients too)", (rss - rss_before) / 1024, None, "MB", "info", True)


def _shared_cache(stack, create, token: str) -> None:
    """What Redis could save on GET /status: the one database call it makes today, against the floor of
    any extra network hop (a loopback TCP round trip, a lower bound of a Redis GET)."""
    gen, _ = create()
    backend = stack.services.backend
    user = _user(stack)
    db = []
    for _ in range(300):
        began = time.perf_counter()
        backend.call("get_generation_counted", p_user_id=user, p_gen_id=gen, p_rate_limit=10**9, p_api_key_id=None)
        db.append(time.perf_counter() - began)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def echo():
        conn, _ = server.accept()
        while data := conn.recv(64):
            conn.sendall(data)
        conn.close()

    threading.Thread(target=echo, daemon=True).start()
    client = socket.create_connection(server.getsockname())
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    hop = []
    for _ in range(300):
        began = time.perf_counter()
        client.sendall(b"*2\r\n$3\r\nGET\r\n$36\r\n" + gen.encode() + b"\r\n")
        client.recv(64)
        hop.append(time.perf_counter() - began)
    client.close()
    server.close()
    d50, h50 = _percentiles(db)[0], _percentiles(hop)[0]
    report("  info: status DB call (counted read) p50", d50, None, "ms", "info", True)
    report("  info: one loopback TCP round trip p50", h50, d50, "ms", "info", True, h50 / d50)
