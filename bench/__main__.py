"""`python -m bench` (or scripts/bench): speed targets as ratios to floors measured in the same run.

1. charge-and-create throughput (create_generation) vs a bare UPDATE (one hot row) and UPDATE+INSERT
   (many rows) on the same Postgres, from the same number of connections — target >= 0.5x
2. database round trips per request: create, status, webhook — target 2, 2, 1 (status: its read and the rate-limit upsert)
3. p50/p99 latency of create, status and webhook under concurrent load on the local stack (its own
   process, zero-delay emulator) vs GET /pricing on the same server — target p50 <= 3x, p99 <= 5x
4. sweep time for the same 100 stuck generations among 10,000 and among 1,000,000 rows — target <= 2x
5. cold import time of each web function's module vs `import fastapi` — target <= 2.5x
6. server memory under 40 concurrent uploads of a 75 KB, 4096x4096 PNG from a user with 0 credits
   (every one answered 402) vs the same server idle — target: growth <= 200 MB (it was 1.4 GB)
7. one GET /metrics scrape (operator_metrics(): five statements) on 1,000,000 generations and their
   ledger vs ledger_discrepancies() alone (one of the five, the check every test already runs) — <= 2x
8. create latency with an API key vs with a session token, same user, one at a time — p50 <= 1.2x;
   round trips of a create made with a key — 2

Everything runs on loopback against an embedded Postgres (fsync off, the same for floor and subject).
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx
import psycopg

from wan_local.embedded_pg import EmbeddedPostgres, free_port
from wan_local.migrate import apply_bootstrap, migrate

ROWS: list[dict] = []


def report(metric: str, value: float, floor: float | None, unit: str, target: str, ok: bool, ratio=None):
    ROWS.append({"metric": metric, "value": round(value, 3), "floor": None if floor is None else round(floor, 3),
                 "ratio": None if ratio is None else round(ratio, 2), "unit": unit, "target": target,
                 "met": ok})
    r = "" if ratio is None else f"{ratio:6.2f}x"
    f = "" if floor is None else f"{floor:12.1f}"
    print(f"  {metric:<44} {value:12.1f} {f:>12} {unit:<8} {r:>8}  target {target:<8} {'ok' if ok else 'MISSED'}",
          flush=True)


def new_database(pg: EmbeddedPostgres, name: str) -> str:
    with psycopg.connect(pg.url(), autocommit=True) as conn:
        conn.execute(f"drop database if exists {name} with (force)")
        conn.execute(f"create database {name}")
    url = pg.url(name)
    apply_bootstrap(url)
    migrate(url)
    return url


def make_user(conn, credits: int) -> str:
    (user_id,) = conn.execute("insert into auth.users (email) values (%s) returning id",
                              (f"{uuid.uuid4().hex}@bench.example",)).fetchone()
    conn.execute("select public.add_credits(%s, %s, 'purchase', 'bench')", (user_id, credits))
    return str(user_id)


# --- 1. throughput --------------------------------------------------------------------------------

def _rate(url: str, seconds: float, threads: int, statement: str, args_for) -> float:
    """Operations per second of `statement` from `threads` connections over `seconds`."""
    done = [0] * threads
    start = threading.Barrier(threads + 1)
    stop = threading.Event()

    def work(i: int):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("select 1")
            start.wait()
            while not stop.is_set():
                conn.execute(statement, args_for())
                done[i] += 1

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join()
    return sum(done) / (time.perf_counter() - began)


def throughput(pg: EmbeddedPostgres, seconds: float, threads: int) -> None:
    url = new_database(pg, "bench_throughput")
    with psycopg.connect(url, autocommit=True) as conn:
        hot = make_user(conn, 2_000_000_000)
        many = [make_user(conn, 1_000_000) for _ in range(1000)]
        conn.execute("create table bench_account (id int primary key, n bigint not null)")
        conn.execute("insert into bench_account select i, 1000000000 from generate_series(0, 1000) i")
        conn.execute("create table bench_log (id bigserial primary key, account int, amount int, at timestamptz default now())")
    create = ("select public.create_generation(%s, 'text-to-video', 't2v-14B', '480p', 'a fox', 10, 1000000000)")
    floor_hot = _rate(url, seconds, threads, "update bench_account set n = n - 10 where id = 0", lambda: ())
    ours_hot = _rate(url, seconds, threads, create, lambda: (hot,))
    report("charge+create, one hot user (ops/s)", ours_hot, floor_hot, "ops/s", ">= 0.5x", ours_hot / floor_hot >= 0.5,
           ours_hot / floor_hot)
    floor_many = _rate(url, seconds, threads,
                       "with u as (update bench_account set n = n - 10 where id = %s returning id) "
                       "insert into bench_log (account, amount) select id, -10 from u",
                       lambda: (random.randint(1, 1000),))
    ours_many = _rate(url, seconds, threads, create, lambda: (random.choice(many),))
    report("charge+create, 1000 users (ops/s)", ours_many, floor_many, "ops/s", ">= 0.5x",
           ours_many / floor_many >= 0.5, ours_many / floor_many)


# --- 2. round trips -------------------------------------------------------------------------------

def round_trips(pg: EmbeddedPostgres) -> None:
    from shared.settings import Settings
    from wan_local.dev import DevStack

    url = new_database(pg, "bench_round_trips")
    with tempfile.TemporaryDirectory() as data:
        stack = DevStack(Settings(_env_file=None, database_url=url, wan_data_dir=data, replicate_api_token=None,
                                  supabase_url=None, supabase_jwt_secret=None, webhook_url=None,
                                  replicate_webhook_secret=None, public_base_url=None), port=0, sweep=False).start()
        stack.emulator.behaviour.auto_run = False
        stack.emulator.behaviour.deliver_webhooks = False
        calls: list[str] = []
        real_call = stack.services.backend.call
        stack.services.backend.call = lambda function, **p: (calls.append(function), real_call(function, **p))[1]
        try:
            with httpx.Client(base_url=stack.url) as http:
                token = http.post("/dev/signup", json={"email": "rt@bench.example"}).json()["access_token"]
                auth = {"Authorization": f"Bearer {token}"}
                calls.clear()
                gen = http.post("/text-to-video", headers=auth,
                                json={"prompt": "a fox", "model": "t2v-14B", "resolution": "480p"}).json()
                counted = {"create": len(calls)}
                calls.clear()
                http.get("/status", params={"generation_id": gen["generation_id"]}, headers=auth)
                counted["status"] = len(calls)
                pid = next(iter(stack.emulator.predictions))
                raw = json.dumps({"id": pid, "status": "processing", "logs": "50%"})
                calls.clear()
                http.post("/webhooks/replicate", params={"generation_id": gen["generation_id"]}, content=raw,
                          headers=stack.emulator.signed_headers(raw))
                counted["webhook"] = len(calls)
        finally:
            stack.stop()
    # status: its own read plus the per-user request-rate upsert (issue 13, hit_request_rate).
    for name, target in (("create", 2), ("status", 2), ("webhook", 1)):
        report(f"database round trips per {name}", counted[name], None, "trips", f"{target}", counted[name] <= target)


# --- 3. latency under load --------------------------------------------------------------------------

def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2] * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def _load(base: str, concurrency: int, requests: int, make_request) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(i: int):
        with httpx.Client(base_url=base, timeout=30) as http:
            mine = []
            for n in range(requests // concurrency):
                began = time.perf_counter()
                r = make_request(http, i, n)
                mine.append(time.perf_counter() - began)
                assert r.status_code < 300, r.text
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def latency(pg: EmbeddedPostgres, concurrency: int, requests: int) -> None:
    """The local stack in its own process, and the emulator in another (Replicate is remote in
    production: its work must not share the server's interpreter). The emulator answers at once and
    holds every prediction, so each endpoint's own latency is measured, not the pipeline behind it."""
    url = new_database(pg, "bench_latency")
    port, emulator_port = free_port(), free_port()
    data = tempfile.mkdtemp()
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    env = {**os.environ, "DATABASE_URL": url, "WAN_DATA_DIR": data, "MAX_ACTIVE_GENERATIONS": "1000000",
           "SWEEP_INTERVAL_SECONDS": "3600", "REPLICATE_API_TOKEN": "r8_bench",
           "CREATE_RATE_PER_MINUTE": "1000000", "REQUEST_RATE_PER_MINUTE": "1000000",
           "MAX_CREATES_PER_MINUTE": "1000000",
           "REPLICATE_BASE_URL": f"http://127.0.0.1:{emulator_port}", "REPLICATE_WEBHOOK_SECRET": secret,
           "SUPABASE_URL": "", "SUPABASE_JWT_SECRET": "", "WEBHOOK_URL": ""}
    emulator = subprocess.Popen([sys.executable, "-m", "wan_local.replicate_emulator", "--port", str(emulator_port),
                                 "--secret", secret, "--hold"])
    server = subprocess.Popen([sys.executable, "-m", "wan_local.cli", "dev", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for line in server.stdout:
            if "ready" in line:
                break
        threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()  # drain its logs
        users = []
        with httpx.Client(base_url=base) as http, psycopg.connect(url, autocommit=True) as conn:
            for i in range(concurrency):
                body = http.post("/dev/signup", json={"email": f"load{i}@bench.example"}).json()
                conn.execute("select public.add_credits(%s, 1000000, 'purchase', 'bench')", (body["user_id"],))
                users.append({"Authorization": f"Bearer {body['access_token']}"})
        created: list[list[str]] = [[] for _ in range(concurrency)]

        def create(http, i, n):
            r = http.post("/text-to-video", headers=users[i],
                          json={"prompt": f"a fox {n}", "model": "t2v-14B", "resolution": "480p"})
            created[i].append(r.json()["generation_id"])
            return r

        def status(http, i, n):
            return http.get("/status", params={"generation_id": created[i][n % len(created[i])]}, headers=users[i])

        from standardwebhooks.webhooks import Webhook

        signer = Webhook(secret)

        def webhook(http, i, n):
            raw = json.dumps({"id": f"bench-{i}-{n}", "status": "processing", "logs": f"{n % 100}%"})
            msg_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(timezone.utc)
            headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
                       "webhook-signature": signer.sign(msg_id, now, raw), "content-type": "application/json"}
            return http.post("/webhooks/replicate", params={"generation_id": str(uuid.uuid4())}, content=raw,
                             headers=headers)

        def trivial(http, i, n):
            return http.get("/pricing")

        _load(base, concurrency, concurrency * 10, trivial)  # warm up
        floor50, floor99 = _percentiles(_load(base, concurrency, requests, trivial))
        for name, request in (("create", create), ("status", status), ("webhook", webhook)):
            p50, p99 = _percentiles(_load(base, concurrency, requests, request))
            report(f"{name} p50 latency, {concurrency} concurrent (ms)", p50, floor50, "ms", "<= 3x",
                   p50 / floor50 <= 3, p50 / floor50)
            report(f"{name} p99 latency, {concurrency} concurrent (ms)", p99, floor99, "ms", "<= 5x",
                   p99 / floor99 <= 5, p99 / floor99)
    finally:
        for process in (server, emulator):
            process.terminate()
            process.wait(timeout=30)


# --- 8. API keys (issue 13): a create with a key vs with a session token ---------------------------

def api_key_create(pg: EmbeddedPostgres, requests: int) -> None:
    """The same user creates alternately with its access token and with an API key (warm cache, the
    default 30 s), one request at a time on the in-process stack, the emulator holding every job:
    the key's p50 against the token's (target <= 1.2x), and the round trips of a create made with a
    key (target 2, as with a token: verifying a cached key costs none)."""
    from shared.settings import Settings
    from wan_local.dev import DevStack

    url = new_database(pg, "bench_api_keys")
    with tempfile.TemporaryDirectory() as data:
        stack = DevStack(Settings(_env_file=None, database_url=url, wan_data_dir=data, replicate_api_token=None,
                                  supabase_url=None, supabase_jwt_secret=None, webhook_url=None,
                                  replicate_webhook_secret=None, public_base_url=None,
                                  max_active_generations=1_000_000, create_rate_per_minute=1_000_000,
                                  request_rate_per_minute=1_000_000, max_creates_per_minute=1_000_000),
                         port=0, sweep=False).start()
        stack.emulator.behaviour.auto_run = False
        stack.emulator.behaviour.deliver_webhooks = False
        try:
            with httpx.Client(base_url=stack.url, timeout=30) as http, psycopg.connect(url, autocommit=True) as conn:
                body = http.post("/dev/signup", json={"email": "keys@bench.example"}).json()
                conn.execute("select public.add_credits(%s, 100000000, 'purchase', 'bench')", (body["user_id"],))
                token = {"Authorization": f"Bearer {body['access_token']}"}
                key = {"Authorization": "Bearer " + http.post("/api-keys", json={"name": "bench"},
                                                              headers=token).json()["key"]}
                times: dict[str, list[float]] = {"token": [], "key": []}
                for n in range(requests * 2 + 20):
                    name, auth = ("key", key) if n % 2 else ("token", token)
                    began = time.perf_counter()
                    r = http.post("/text-to-video", headers=auth,
                                  json={"prompt": f"a fox {n}", "model": "t2v-14B", "resolution": "480p"})
                    if n >= 20:  # the first ones warm the pool and the key's cache
                        times[name].append(time.perf_counter() - began)
                    assert r.status_code == 202, r.text
                calls: list[str] = []
                real_call = stack.services.backend.call
                stack.services.backend.call = lambda function, **p: (calls.append(function), real_call(function, **p))[1]
                http.post("/text-to-video", headers=key, json={"prompt": "a fox", "model": "t2v-14B", "resolution": "480p"})
                stack.services.backend.call = real_call
        finally:
            stack.stop()
    token50, token99 = _percentiles(times["token"])
    key50, key99 = _percentiles(times["key"])
    report("create p50 with an API key vs a token (ms)", key50, token50, "ms", "<= 1.2x", key50 / token50 <= 1.2,
           key50 / token50)
    report("create p99 with an API key vs a token (ms)", key99, token99, "ms", "<= 1.5x", key99 / token99 <= 1.5,
           key99 / token99)
    report("database round trips per create with a key", len(calls), None, "trips", "2", len(calls) <= 2)


# --- 4. sweep scaling -------------------------------------------------------------------------------

def sweep_scaling(pg: EmbeddedPostgres, sizes: tuple[int, int], stuck: int = 100) -> None:
    from shared.db import PostgresBackend
    from shared.replicate_provider import ReplicateProvider
    from shared.services import Services
    from shared.settings import Settings
    from shared.storage import LocalStorage
    from shared.sweep import sweep

    timings = {}
    for rows in sizes:
        url = new_database(pg, f"bench_sweep_{rows}")
        with psycopg.connect(url, autocommit=True) as conn:
            user = make_user(conn, 1_000_000)
            conn.execute("""insert into public.generations (user_id, kind, model, resolution, prompt, cost, status,
                                                            completed_at, video_path, replicate_id)
                            select %s, 'text-to-video', 't2v-14B', '480p', 'p', 10, 'succeeded',
                                   now() - interval '1 day', 'videos/x.mp4', 'done-' || i
                            from generate_series(1, %s) i""", (user, rows - stuck))
            conn.execute("vacuum analyze public.generations")
        settings = Settings(_env_file=None, database_url=url, replicate_api_token="unused")
        services = Services(settings, PostgresBackend(url),
                            ReplicateProvider("unused", "http://127.0.0.1:9", timeout_seconds=1),
                            LocalStorage(Path(tempfile.mkdtemp()), "http://127.0.0.1:9", b"x"))
        runs = []
        for _ in range(3):
            with psycopg.connect(url, autocommit=True) as conn:
                for _ in range(stuck):
                    conn.execute("select public.create_generation(%s, 'text-to-video', 't2v-14B', '480p', 'p', 10, 1000000)",
                                 (user,))
                conn.execute("update public.generations set created_at = now() - interval '11 minutes' "
                             "where status = 'queued'")
            began = time.perf_counter()
            counts = sweep(services)
            runs.append(time.perf_counter() - began)
            assert counts["queued_failed"] == stuck, counts
        services.close()
        timings[rows] = statistics.median(runs) * 1000
    small, large = sizes
    report(f"sweep of {stuck} stuck among {large:,} rows (ms)", timings[large], timings[small], "ms", "<= 2x",
           timings[large] / timings[small] <= 2, timings[large] / timings[small])


# --- 6. metrics scrape -------------------------------------------------------------------------------

def metrics_scrape(pg: EmbeddedPostgres, rows: int, users: int = 1000) -> None:
    """A realistic history: `rows` finished generations over three models and two resolutions
    (5 % failed, 2 % canceled, all refunded), each charged, on `users` users whose books balance."""
    url = new_database(pg, f"bench_metrics_{rows}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("insert into auth.users (email) select 'u' || i || '@bench.example' from generate_series(1, %s) i",
                     (users,))
        conn.execute("select public.add_credits(id, %s) from public.profiles", (20 * rows // users + 1000,))
        conn.execute("""
            with u as (select array_agg(id order by id) a from public.profiles)
            insert into public.generations (user_id, kind, model, resolution, prompt, cost, status, created_at,
                                            started_at, completed_at, settled_by, replicate_id, error_code, error)
            select u.a[1 + i %% %(users)s], 'text-to-video', (array['t2v-14B', 't2v-1.3B', 't2v-14B'])[1 + i %% 3],
                   case when i %% 3 = 1 then '480p' else (array['480p', '720p'])[1 + i %% 2] end, 'p', 10,
                   case when i %% 20 = 0 then 'failed' when i %% 50 = 1 then 'canceled' else 'succeeded' end,
                   now() - make_interval(secs => i), now() - make_interval(secs => i) + interval '20 s',
                   now() - make_interval(secs => i) + make_interval(secs => 60 + i %% 400),
                   (array['webhook', 'webhook', 'webhook', 'status_poll', 'sweep'])[1 + i %% 5],
                   'r' || i, case when i %% 20 = 0 then 'provider_failed' end,
                   case when i %% 20 = 0 then 'failed' end
            from generate_series(1, %(rows)s) i, u""", {"users": users, "rows": rows})
        conn.execute("""
            with entries as (
              select g.user_id, g.id, -10 as amount, 'deduction' as type, g.created_at, 0 as k
                from public.generations g
              union all
              select g.user_id, g.id, 10, 'refund', g.created_at, 1
                from public.generations g where g.status in ('failed', 'canceled')),
            ordered as (
              select e.*, p.credits + sum(e.amount) over (partition by e.user_id order by e.created_at, e.id, e.k)
                       as balance_after
                from entries e join public.profiles p on p.id = e.user_id)
            insert into public.credit_transactions (user_id, amount, type, generation_id, balance_after)
            select user_id, amount, type, id, balance_after from ordered order by user_id, created_at, id, k""")
        conn.execute("""update public.profiles p set credits = s.total
                          from (select user_id, sum(amount) total from public.credit_transactions group by 1) s
                         where s.user_id = p.id""")
        conn.execute("vacuum analyze")
        assert conn.execute("select count(*) from public.ledger_discrepancies()").fetchone()[0] == 0

        def timed(sql: str, repeats: int = 5) -> float:
            runs = []
            for _ in range(repeats):
                began = time.perf_counter()
                conn.execute(sql).fetchall()
                runs.append(time.perf_counter() - began)
            return statistics.median(runs) * 1000

        floor = timed("select count(*) from public.ledger_discrepancies()")
        scrape = timed("select public.operator_metrics()")
        window = timed("select public.operator_metrics(now() - interval '24 hours')")
    report(f"metrics scrape on {rows:,} generations (ms)", scrape, floor, "ms", "<= 2x", scrape / floor <= 2,
           scrape / floor)
    report(f"wan-api stats --since 24h on {rows:,} (ms)", window, floor, "ms", "<= 2x", window / floor <= 2,
           window / floor)


# --- 5. cold imports --------------------------------------------------------------------------------

def _import_seconds(module: str, repeats: int = 7) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
            for _ in range(repeats)]
    return statistics.median(runs) * 1000


def imports() -> None:
    floor = _import_seconds("fastapi")
    for name in ("text_to_video", "image_to_video", "generation_status", "replicate_webhook", "account"):
        ms = _import_seconds(f"functions.{name}")
        report(f"cold import functions.{name} (ms)", ms, floor, "ms", "<= 2.5x", ms / floor <= 2.5, ms / floor)


# --- 6. memory under uploads that cannot be charged -----------------------------------------------------

def _rss_mb(pid: int, field: str) -> float:
    """VmRSS (now) or VmHWM (the peak so far) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for {pid}")


def _cheap_big_png() -> bytes:
    """A 4096x4096 PNG of about 75 KB: small to send, 48 MB of pixels to decode."""
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGB", (4096, 4096), (30, 90, 160))
    draw = ImageDraw.Draw(img)
    rng = random.Random(7)
    for _ in range(8):
        x, y = rng.randrange(4096), rng.randrange(4096)
        draw.line((x, y, rng.randrange(4096), rng.randrange(4096)), fill=(rng.randrange(256), 40, 90), width=2)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def upload_memory(pg: EmbeddedPostgres, concurrency: int = 40, rounds: int = 3) -> None:
    url = new_database(pg, "bench_upload_memory")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "WAN_DATA_DIR": tempfile.mkdtemp(), "SWEEP_INTERVAL_SECONDS": "3600",
           "REPLICATE_API_TOKEN": "", "SUPABASE_URL": "", "SUPABASE_JWT_SECRET": "", "WEBHOOK_URL": ""}
    server = subprocess.Popen([sys.executable, "-m", "wan_local.cli", "dev", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    image = _cheap_big_png()
    try:
        for line in server.stdout:
            if "ready" in line:
                break
        threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()
        with httpx.Client(base_url=base, timeout=120) as http, psycopg.connect(url, autocommit=True) as conn:
            body = http.post("/dev/signup", json={"email": "broke@bench.example"}).json()
            conn.execute("select public.add_credits(%s, -100, 'adjustment', 'bench: spent')", (body["user_id"],))
            auth = {"Authorization": f"Bearer {body['access_token']}"}
            for _ in range(3):  # warm up: imports, pools, a first decode
                http.get("/pricing")
                http.post("/image-to-video", headers=auth, files={"image": ("a.png", image, "image/png")},
                          data={"prompt": "p", "model": "i2v-14B", "resolution": "480p"})
        idle = _rss_mb(server.pid, "VmRSS")
        statuses: list[int] = []

        def upload(i: int) -> None:
            with httpx.Client(base_url=base, timeout=120) as http:
                r = http.post("/image-to-video", headers=auth, files={"image": (f"{i}.png", image, "image/png")},
                              data={"prompt": "p", "model": "i2v-14B", "resolution": "480p"})
                statuses.append(r.status_code)

        for _ in range(rounds):
            threads = [threading.Thread(target=upload, args=(i,)) for i in range(concurrency)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        peak = _rss_mb(server.pid, "VmHWM")
    finally:
        server.terminate()
        server.wait(timeout=30)
    answers = {status: statuses.count(status) for status in sorted(set(statuses))}
    print(f"  ({len(image) // 1024} KB PNG, 4096x4096; server idle {idle:.0f} MB, peak {peak:.0f} MB; answers {answers})")
    report(f"memory growth, {concurrency} concurrent 402 uploads (MB)", peak - idle, idle, "MB", "<= 200",
           peak - idle <= 200 and set(answers) == {402})


SECTIONS = ("throughput", "round-trips", "latency", "sweep", "upload-memory", "metrics", "imports", "api-keys")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and shorter runs (a smoke run)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only this section (repeatable)")
    args = parser.parse_args(argv)
    run = set(args.only or SECTIONS)
    logging.disable(logging.INFO)  # the figures, not the service's request log
    seconds, requests, sizes = (1.0, 200, (1_000, 20_000)) if args.quick else (4.0, 2000, (10_000, 1_000_000))
    print(f"Wan Video API benchmarks — {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
          f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"  {'metric':<44} {'value':>12} {'floor':>12} {'unit':<8} {'ratio':>8}")
    with tempfile.TemporaryDirectory() as data:
        # As root the server runs as an unprivileged user, which must pass through this 0700 directory
        # (the stack never widens a directory it did not make).
        os.chmod(data, 0o711)
        with EmbeddedPostgres(Path(data) / "pg", durable=False) as pg:
            with psycopg.connect(pg.url()) as conn:
                print(f"  Postgres {conn.execute('show server_version').fetchone()[0]} (embedded, fsync off)")
            if "throughput" in run:
                throughput(pg, seconds, threads=4)
            if "round-trips" in run:
                round_trips(pg)
            if "latency" in run:
                latency(pg, concurrency=8, requests=requests)
            if "sweep" in run:
                sweep_scaling(pg, sizes)
            if "upload-memory" in run:
                upload_memory(pg)
            if "metrics" in run:
                metrics_scrape(pg, sizes[1])
            if "api-keys" in run:
                api_key_create(pg, requests // 4)
    if "imports" in run:
        imports()
    missed = [r["metric"] for r in ROWS if not r["met"]]
    print(f"{len(ROWS) - len(missed)} of {len(ROWS)} targets met" + (f"; missed: {', '.join(missed)}" if missed else ""))
    if args.json:
        args.json.write_text(json.dumps({"date": datetime.now(timezone.utc).isoformat(), "rows": ROWS}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
