"""`scripts/soak --minutes M`: the local stack under Replicate's create limit, with faults and restarts.

A real `wan-api dev` (a subprocess: real HTTP, its Replicate emulator running every prediction for
WAN_EMULATOR_RUN_SECONDS and sending its webhooks, its sweeper every SWEEP_INTERVAL_SECONDS) on an
embedded Postgres of the soak's own, so that each can be restarted apart. For M minutes, open loop:
`--rate` creates a minute (default 600, Replicate's create limit for an account:
https://replicate.com/docs/topics/predictions/rate-limits) from `--users` users, each accepted one
polled with GET /status every 3 s until it ends; about 3 % of creates refused by the emulator (500 or
429, through `POST /dev/emulator/next`) and 3 % with their webhooks dropped (only the sweep can settle
those). Postgres is restarted once (at 40 % of the run) and `wan-api dev` once (at 70 %).

Then, once the load stops and the sweep has settled what was in flight (bounded): zero
`ledger_discrepancies()`, no generation left unfinished, every charge either succeeded or refunded
exactly once. And the figures: p50/p99 of create and status per minute, the stack's RSS and the open
database connections over time (growth after the warm-up judged, not only shown), the database's size
per 1,000 generations. Exit status 1 if a check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg

PROJECT = Path(__file__).resolve().parent.parent
POLL_SECONDS = 3.0  # as the web client polls
SAMPLE_SECONDS = 5.0
# The stack's settings for a soak: predictions take seconds, the sweep looks often, and a lost
# webhook is asked about after STUCK_AFTER_SECONDS (the contract's defaults are minutes).
STACK_ENV = {"WAN_EMULATOR_RUN_SECONDS": "2", "SWEEP_INTERVAL_SECONDS": "2", "STUCK_AFTER_SECONDS": "6",
             "QUEUED_TIMEOUT_SECONDS": "20", "DEADLINE_SECONDS": "60", "CREATE_RATE_PER_MINUTE": "100000",
             "REQUEST_RATE_PER_MINUTE": "1000000", "MAX_ACTIVE_GENERATIONS": "5"}


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class Stack:
    """`wan-api dev` on a fixed port and data directory, on the soak's own Postgres."""

    def __init__(self, tmp: Path, database_url: str, port: int):
        self.data_dir, self.database_url, self.port = tmp / "wan-data", database_url, port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None
        self.log = open(tmp / "wan-api-dev.log", "ab")

    def start(self) -> None:
        env = {**os.environ, **STACK_ENV, "DATABASE_URL": self.database_url, "WAN_DATA_DIR": str(self.data_dir)}
        for name in ("REPLICATE_API_TOKEN", "STRIPE_SECRET_KEY", "SUPABASE_URL", "WEBHOOK_URL"):
            env.pop(name, None)
        self.process = subprocess.Popen([sys.executable, "-m", "wan_local.cli", "dev", "--port", str(self.port)],
                                        cwd=PROJECT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"wan-api dev exited with {self.process.returncode}: see {self.log.name}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"wan-api dev did not answer /health within 120 s: see {self.log.name}")
            time.sleep(0.2)

    def stop(self, patience: float = 60) -> str:
        """SIGTERM, then SIGKILL after `patience` seconds; how it ended."""
        if not self.process or self.process.poll() is not None:
            return "not running"
        t = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=patience)
            return f"stopped by SIGTERM in {time.monotonic() - t:.1f} s"
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return f"SIGTERM did not stop it within {patience:.0f} s under load: killed"

    def rss_mb(self) -> float:
        if not self.process or self.process.poll() is not None:
            return 0.0
        return _rss_kb(self.process.pid) / 1024


class Soak:
    def __init__(self, minutes: float, rate: int, users: int):
        self.minutes, self.rate, self.users_wanted = minutes, rate, users
        self.lock = threading.Lock()
        self.latency: dict[str, dict[int, list[float]]] = {"create": defaultdict(list), "status": defaultdict(list)}
        self.counts: Counter = Counter()
        self.samples: list[dict] = []
        self.events: list[str] = []
        self.started = 0.0
        self.stop_load = threading.Event()

    # --- the run ----------------------------------------------------------------------------------
    def run(self) -> dict:
        from wan_local.embedded_pg import EmbeddedPostgres, free_port

        # Enterable by the server user when running as root (tests/support.py postgres_tmp_dir says why);
        # kept, with both servers' logs, when the run fails.
        tmp = Path(tempfile.mkdtemp(prefix="wan-soak-"))
        tmp.chmod(0o711)
        report = None
        try:
            self.pg = EmbeddedPostgres(tmp / "postgres", durable=True).start()
            self.db_url = self.pg.url()
            self.stack = Stack(tmp, self.db_url, free_port())
            try:
                self.stack.start()
                self.http = httpx.Client(base_url=self.stack.url, timeout=30,
                                         limits=httpx.Limits(max_connections=100, max_keepalive_connections=50))
                self.users = [self._user() for _ in range(self.users_wanted)]
                base = self._db_figures()
                self._load()
                settled = self._settle()
                report = self._report(base, settled)
            finally:
                self.stop_load.set()
                self.stack.stop()
                self.pg.stop()
        finally:
            if report is not None and report["passed"]:
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                print(f"soak: kept {tmp} (postgres/postgres.log, wan-api-dev.log)", file=sys.stderr)
        return report

    def _user(self) -> str:
        r = self.http.post("/dev/signup", json={"email": f"soak-{uuid.uuid4().hex[:10]}@example.com"})
        body = r.json()
        with psycopg.connect(self.db_url, autocommit=True) as conn:  # enough for the whole run
            conn.execute("select public.add_credits(%s, 1000000, 'purchase', 'soak')", (body["user_id"],))
        return body["access_token"]

    def _load(self) -> None:
        seconds = self.minutes * 60
        interval = 60.0 / self.rate
        pool = ThreadPoolExecutor(max_workers=96, thread_name_prefix="soak")
        self.started = time.monotonic()
        sampler = threading.Thread(target=self._sample_forever, daemon=True)
        sampler.start()
        restarts = [(0.4, self._restart_postgres), (0.7, self._restart_stack)]
        n = 0
        while True:
            now = time.monotonic() - self.started
            if now >= seconds:
                break
            if restarts and now >= restarts[0][0] * seconds:
                restarts.pop(0)[1]()  # in this thread: the schedule catches up after it (open loop)
                continue
            due = self.started + n * interval
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # the schedule itself, not a stand-in for an event
            pool.submit(self._create, n)
            n += 1
        self.stop_load.set()
        pool.shutdown(wait=True)
        sampler.join(timeout=SAMPLE_SECONDS * 2)

    def _minute(self) -> int:
        return int((time.monotonic() - self.started) // 60)

    def _create(self, n: int) -> None:
        token = self.users[n % len(self.users)]
        try:  # one create in 33 refused, another dropping its webhooks: 3 % each, from the first minute
            if n % 33 == 5:
                fault = {"fault": "refuse", "status": (500, 429)[n // 33 % 2]}
            elif n % 33 == 17:
                fault = {"fault": "drop_webhooks"}
            else:
                fault = None
            if fault:
                self.http.post("/dev/emulator/next", json=fault)
                self._count(f"fault:{fault['fault']}")
            t = time.perf_counter()
            r = self.http.post("/text-to-video", json={"prompt": "a fox in the snow", "model": "t2v-14B",
                                                        "resolution": "480p"},
                               headers={"Authorization": f"Bearer {token}"})
            self._record("create", time.perf_counter() - t)
            self._count(f"create:{r.status_code}")
        except httpx.HTTPError as exc:
            self._count(f"create:{type(exc).__name__}")  # a restart in progress
            return
        if r.status_code == 202:
            self._poll(token, r.json()["generation_id"])

    def _poll(self, token: str, gen_id: str) -> None:
        deadline = time.monotonic() + 120
        while not self.stop_load.wait(POLL_SECONDS) and time.monotonic() < deadline:
            try:
                t = time.perf_counter()
                r = self.http.get("/status", params={"generation_id": gen_id},
                                  headers={"Authorization": f"Bearer {token}"})
                self._record("status", time.perf_counter() - t)
                self._count(f"status:{r.status_code}")
                if r.status_code == 200 and r.json()["terminal"]:
                    self._count(f"ended:{r.json()['status']}")
                    return
            except httpx.HTTPError as exc:
                self._count(f"status:{type(exc).__name__}")

    def _record(self, what: str, seconds: float) -> None:
        with self.lock:
            self.latency[what][self._minute()].append(seconds * 1000)

    def _count(self, what: str) -> None:
        with self.lock:
            self.counts[what] += 1

    def _restart_postgres(self) -> None:
        at = time.monotonic() - self.started
        self.pg.stop()
        self.pg.start()  # the same directory and port
        self.events.append(f"{at:.0f} s: Postgres restarted ({time.monotonic() - self.started - at:.1f} s down)")

    def _restart_stack(self) -> None:
        at = time.monotonic() - self.started
        how = self.stack.stop(patience=15)
        self.stack.start()  # the same port and data directory: its emulator carries the runs on
        self.events.append(f"{at:.0f} s: wan-api dev restarted ({how}; {time.monotonic() - self.started - at:.1f} s down)")

    # --- figures over time ------------------------------------------------------------------------
    def _sample_forever(self) -> None:
        while not self.stop_load.wait(SAMPLE_SECONDS):
            self._sample()

    def _sample(self) -> None:
        sample = {"t": round(time.monotonic() - self.started, 1), "stack_rss_mb": round(self.stack.rss_mb(), 1)}
        try:
            with psycopg.connect(self.db_url, autocommit=True, connect_timeout=3) as conn:
                sample["connections"] = conn.execute("select count(*) from pg_stat_activity "
                                                     "where backend_type = 'client backend'").fetchone()[0] - 1
                postmaster = self.pg.process.pid if self.pg.process else None
                sample["postgres_rss_mb"] = round(sum(_rss_kb(p) for p in [postmaster, *_children(postmaster)]
                                                      if p) / 1024, 1) if postmaster else None
        except psycopg.Error:
            sample["connections"] = None  # Postgres restarting
        self.samples.append(sample)

    def _db_figures(self) -> dict:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            size, gens = conn.execute("select pg_database_size(current_database()), "
                                      "(select count(*) from public.generations)").fetchone()
        return {"bytes": size, "generations": gens}

    # --- the end -----------------------------------------------------------------------------------
    def _settle(self) -> float:
        """Wait (bounded) for the sweep to end every generation still in flight; the seconds it took."""
        t = time.monotonic()
        limit = int(STACK_ENV["DEADLINE_SECONDS"]) + 120
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            while conn.execute("select count(*) from public.generations "
                               "where status in ('queued', 'processing')").fetchone()[0]:
                if time.monotonic() - t > limit:
                    break
                time.sleep(0.5)
        return time.monotonic() - t

    def _report(self, base: dict, settled: float) -> dict:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            discrepancies = conn.execute("select * from public.ledger_discrepancies()").fetchall()
            unfinished = conn.execute("select count(*) from public.generations "
                                      "where status in ('queued', 'processing')").fetchone()[0]
            wrong = conn.execute("""
                select count(*) from public.generations g
                 where (select count(*) from public.credit_transactions t
                         where t.generation_id = g.id and t.type = 'deduction') <> 1
                    or (select count(*) from public.credit_transactions t
                         where t.generation_id = g.id and t.type = 'refund')
                       <> case when g.status = 'succeeded' then 0 else 1 end""").fetchone()[0]
            by_status = dict(conn.execute("select status, count(*) from public.generations group by status").fetchall())
        end = self._db_figures()
        made = end["generations"] - base["generations"]
        checks = {
            "zero ledger_discrepancies()": not discrepancies,
            "no generation left unfinished": unfinished == 0,
            "every charge succeeded or was refunded exactly once": wrong == 0,
            "Postgres and wan-api dev each restarted once": len(self.events) == 2,
            "the emulator refused creates and dropped webhooks": bool(self.counts["fault:refuse"]
                                                                        and self.counts["fault:drop_webhooks"]),
        }
        return {
            "minutes": self.minutes, "rate_per_minute": self.rate, "users": len(self.users),
            "counts": dict(sorted(self.counts.items())), "generations": by_status, "events": self.events,
            "settled_seconds": round(settled, 1), "discrepancies": [list(map(str, d)) for d in discrepancies],
            "latency_ms": {what: {m: {"n": len(v), "p50": round(percentile(v, 0.5), 1),
                                       "p99": round(percentile(v, 0.99), 1)} for m, v in sorted(per.items())}
                           for what, per in self.latency.items()},
            "samples": self.samples, "growth": growth(self.samples),
            "db_bytes_per_1000_generations": round((end["bytes"] - base["bytes"]) / made * 1000) if made else None,
            "checks": checks, "passed": all(checks.values()),
        }


def growth(samples: list[dict]) -> dict:
    """RSS and connections after the warm-up (the first quarter of the run): the last quarter's
    median against the second quarter's. Growth = more than 25 % (and 20 MB) up for RSS, more than
    5 connections up."""
    verdicts = {}
    n = len(samples)
    if n < 8:
        return {"verdict": f"too short to judge ({n} samples)"}
    early, late = samples[n // 4: n // 2], samples[3 * n // 4:]
    for key, more_than in (("stack_rss_mb", lambda a, b: b > a * 1.25 and b - a > 20),
                           ("connections", lambda a, b: b - a > 5)):
        a = statistics.median([s[key] for s in early if s.get(key) is not None] or [0])
        b = statistics.median([s[key] for s in late if s.get(key) is not None] or [0])
        verdicts[key] = {"after_warm_up": a, "at_the_end": b, "grew": more_than(a, b)}
    verdicts["verdict"] = "grew" if any(v["grew"] for v in verdicts.values() if isinstance(v, dict)) else "no growth"
    return verdicts


def text(report: dict) -> str:
    r = report
    lines = [f"soak: {r['minutes']} min at {r['rate_per_minute']} creates/min from {r['users']} users",
             "events: " + "; ".join(r["events"]),
             "counts: " + ", ".join(f"{k} {v}" for k, v in r["counts"].items()),
             "generations: " + ", ".join(f"{k} {v}" for k, v in sorted(r["generations"].items())),
             f"settled {r['settled_seconds']} s after the load stopped",
             "minute | creates | create p50 / p99 ms | polls | status p50 / p99 ms"]
    creates, statuses = r["latency_ms"]["create"], r["latency_ms"]["status"]
    for m in sorted(set(creates) | set(statuses)):
        c, s = creates.get(m, {}), statuses.get(m, {})
        lines.append(f"{m:>6} | {c.get('n', 0):>7} | {c.get('p50')} / {c.get('p99')} | {s.get('n', 0):>5} | "
                     f"{s.get('p50')} / {s.get('p99')}")
    samples = r["samples"]
    step = max(1, len(samples) // 12)
    lines.append("t s | stack RSS MB | Postgres RSS MB | connections")
    for s in samples[::step]:
        lines.append(f"{s['t']:>5} | {s['stack_rss_mb']} | {s.get('postgres_rss_mb')} | {s.get('connections')}")
    lines.append(f"growth after warm-up: {json.dumps(r['growth'])}")
    lines.append(f"database size per 1,000 generations: {r['db_bytes_per_1000_generations']} bytes")
    for name, ok in r["checks"].items():
        lines.append(f"{'ok  ' if ok else 'FAIL'} {name}")
    if r["discrepancies"]:
        lines.append(f"discrepancies: {r['discrepancies'][:10]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the load lasts (default 10)")
    parser.add_argument("--rate", type=int, default=600, help="creates per minute (default 600)")
    parser.add_argument("--users", type=int, default=60, help="users the creates come from (default 60)")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.rate < 1 or args.users < 1:
        parser.error("--minutes must be above 0, --rate and --users at least 1")
    report = Soak(args.minutes, args.rate, args.users).run()
    print(text(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
