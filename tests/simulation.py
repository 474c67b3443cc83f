"""Random money histories at scale (issue 29): `scripts/simulate --histories N [--seed S] [--workers W]`.

A history is a list of steps drawn from one seed: sign-ups (session or API key), top-ups, creates of
every kind and model (durations priced as the catalog sells them, idempotent replays, webhooks to the
user's receiver, refused prompts), retries, cancels, extends, Replicate's webhooks (duplicated,
reordered, late, forged, lost: the sweep then asks Replicate), overlapping sweeps, time passing, the
background work (video copies, push deliveries), purchases (paid now or later, expired, refunded,
disputed, events repeated and reordered, success pages racing them), API keys revoked, admin grants,
deductions, blocks and goodwill refunds; and faults: Replicate answering 500/429/422 or hanging past
our timeout, the database connections killed between steps and in the middle of a create, and the
process crashing between the charge and the job (before Replicate was asked, or after it answered).

After every step the books are checked in one round trip: `ledger_discrepancies()` is empty, every
generation carries exactly its charge (and its one refund if it failed, its one goodwill refund if
its video was lost), every purchase was credited at most once, only when paid, and never took back
more than Stripe did; every answer is one the contract allows for its endpoint.

Everything runs for real: the local stack's endpoints over HTTP (uvicorn), the SQL functions on an
embedded Postgres, the Replicate and Stripe emulators through the vendors' clients. What a history
does not test is left out of its time: the database is emptied between histories (not recreated),
background work runs when a step says so (no thread per copy or delivery), and W worker processes
each drive their own stack and database on one shared Postgres.

A failing history prints its seed and its shrunk steps; `--seed S --histories 1` replays it.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import random
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

STEPS = 32  # per history: long enough for charge → fail → refund → retry chains and purchases' lives

# Every status an endpoint may answer, with the error codes allowed at it (contract section 2).
CREATE = {202: None, 402: {"insufficient_credits"}, 409: {"idempotency_key_reused", "invalid_state"},
          429: {"too_many_active_generations", "rate_limited"}, 503: {"provider_unavailable"},
          403: {"account_blocked"}, 422: {"content_policy"}, 404: {"not_found"}}
ALLOWED = {
    "create": CREATE, "retry": CREATE, "extend": CREATE,
    "cancel": {200: None, 409: {"invalid_state"}, 404: {"not_found"}},
    "status": {200: None, 404: {"not_found"}},
    "webhook": {200: None},
    "forged": {401: {"invalid_signature"}},
    "checkout": {201: None, 409: {"idempotency_key_reused"}, 403: {"account_blocked"}},
    "checkout_status": {200: None, 404: {"not_found"}},
    "stripe_webhook": {200: None},
    "signup": {201: None},
    "api_key": {201: None, 200: None, 404: {"not_found"}},
    "admin": {200: None, 201: None, 404: {"not_found"}, 409: {"invalid_state", "insufficient_credits"},
              402: {"insufficient_credits"}, 503: {"provider_unavailable"}},
}
# A pooled connection that was killed fails the one call that next takes it, with a 503, and the pool
# then drops it (shared/db.py): such answers are allowed in the step that meets the killed connections
# (the one after a kill between steps, or the create whose connections die in the middle).
AFTER_A_KILL = {503: {"service_unavailable"}}
REVOKED = {401: {"unauthorized"}}              # a revoked API key

# (kind, weight): how often each step comes.
KINDS = [
    ("sign_up", 3), ("top_up", 3), ("spends_it_all", 1),
    ("create", 16), ("create_image", 5), ("create_priced_by_duration", 3), ("replay", 3),
    ("refused_prompt", 2), ("create_fault", 6), ("crash", 3),
    ("retry", 5), ("cancel", 4), ("extend", 3), ("status", 4),
    ("webhook", 14), ("webhook_again", 3), ("webhook_forged", 1), ("webhook_stranger", 1),
    ("replicate_ends_silently", 4), ("sweep", 5), ("time_passes", 4), ("background", 4), ("kill_connections", 2),
    ("buy", 4), ("stripe", 9), ("stripe_event_again", 3), ("success_page", 2), ("revoke_key", 1),
    ("admin_adjust", 2), ("admin_block", 1), ("admin_unblock", 1), ("admin_goodwill", 1), ("admin_settle", 1),
]
_NAMES = [k for k, _ in KINDS]
_WEIGHTS = [w for _, w in KINDS]


def _sold(kind: str, by_duration: bool) -> list[tuple[str, str, int | None]]:
    """Every (model, resolution, duration) the catalog sells of a kind: a new model joins by itself."""
    from shared import catalog

    return [(v.model, v.resolution, v.duration) for v in catalog.VARIANTS
            if v.kind == kind and (v.duration is not None) == by_duration]


T2V, I2V = _sold("text-to-video", False), _sold("image-to-video", False)
BY_DURATION = _sold("image-to-video", True) + _sold("text-to-video", True)
BLOCKED = "zorblax"  # BLOCKED_TERMS of the simulation's stack
FAULTS = ["500", "429", "422", "hang", "kill_mid_create", "drop_webhooks", "fail"]


@dataclass(frozen=True)
class Step:
    kind: str
    args: tuple  # small integers: which user/generation/session (taken modulo what exists), choices

    def __str__(self) -> str:
        return f"{self.kind}{self.args}"


def catalog_kind(model: str) -> str:
    from shared import catalog

    return next(v.kind for v in catalog.VARIANTS if v.model == model)


def plan(seed: int, steps: int = STEPS) -> list[Step]:
    """The history of one seed: the same seed always gives the same steps."""
    rng = random.Random(seed)
    return [Step(rng.choices(_NAMES, _WEIGHTS)[0], tuple(rng.randrange(1000) for _ in range(4)))
            for _ in range(steps)]


class HistoryFailed(AssertionError):
    def __init__(self, index: int, step: Step, message: str):
        super().__init__(f"step {index} {step}: {message}")
        self.index, self.step, self.message = index, step, message


class SimulatedCrash(BaseException):
    """The process dying between two steps of a create (a BaseException: nothing of ours catches it)."""


class _CrashingProvider:
    """Replicate's client, with the process dying before its create is sent or after it is answered."""

    def __init__(self, real, when: str):
        self.real, self.when = real, when

    def create(self, *args, **kwargs):
        if self.when == "before":
            raise SimulatedCrash("before Replicate was asked")
        self.real.create(*args, **kwargs)
        raise SimulatedCrash("after Replicate answered, before the job was recorded")

    def __getattr__(self, name):
        return getattr(self.real, name)


class Receiver:
    """A user's webhook receiver on loopback: answers 200, or 500 to every other delivery."""

    def __init__(self):
        self.count = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.count += 1
                self.send_response(200 if receiver.count % 2 else 500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


def png(seed: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (96 + seed % 3 * 48, 72), (seed % 256, 80, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


# --- one worker's stack ------------------------------------------------------------------------------

class World:
    """One worker's local stack on its own database (of a shared Postgres), reused by every history."""

    def __init__(self, database_url: str, data_dir: Path):
        import httpx
        import psycopg

        from shared.settings import Settings
        from wan_local.dev import DevStack

        settings = Settings(_env_file=None, database_url=database_url, wan_data_dir=str(data_dir),
                            replicate_api_token=None, replicate_webhook_secret=None, supabase_url=None,
                            supabase_service_role_key=None, supabase_jwt_secret=None, webhook_url=None,
                            public_base_url=None, stripe_secret_key=None, stripe_webhook_secret=None,
                            checkout_success_url=None, checkout_cancel_url=None, openai_api_key=None,
                            allowed_origins="https://app.example.com",
                            # Short: a hang (the emulator waits longer) gives up quickly.
                            replicate_timeout_seconds=0.3,
                            create_rate_per_minute=12, request_rate_per_minute=100_000,
                            max_creates_per_minute=1_000_000, blocked_terms=BLOCKED, moderation_strikes=3,
                            db_pool_size=8)
        self.stack = DevStack(settings, port=0, sweep=False, db_role="service_role").start()
        self.svc = self.stack.services
        self.emulator, self.stripe = self.stack.emulator, self.stack.stripe
        self.emulator.state_dir = None  # no file per prediction change: restarts are not what this tests
        self.emulator.behaviour.auto_run = False
        self.emulator.behaviour.deliver_webhooks = False  # the history delivers every webhook itself
        self.emulator.behaviour.fetch_inputs = False      # its input fetch would be a thread per create
        self.stripe.behaviour.deliver_webhooks = False
        self.http = httpx.Client(base_url=self.stack.url, timeout=60)
        self.db = psycopg.connect(database_url, autocommit=True)
        self.db.execute("set application_name = 'simulation-checker'")
        self.receiver = Receiver()
        self.copies: list[str] = []      # video copies started, run by a `background` step
        self.pushes: list[str] = []      # push deliveries started, likewise
        self.svc.start_video_copy = self.copies.append
        self.svc.start_deliveries = self.pushes.append
        self.real_provider = self.svc.provider
        self.tables = [r[0] for r in self.db.execute(
            "select format('%I.%I', schemaname, tablename) from pg_tables "
            "where schemaname in ('public', 'auth') and tablename <> 'schema_migrations'").fetchall()]
        self.dead_port = self._dead_port()

    @staticmethod
    def _dead_port() -> int:
        import socket

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return port

    def reset(self) -> None:
        """Empty the database and the emulators: the next history starts from nothing."""
        # DELETE, not TRUNCATE: a few rows each, and TRUNCATE makes new files for every table and index
        # (25 ms against 0.6). As replica: no trigger (the audit is append-only, foreign keys are triggers).
        self.db.execute("set session_replication_role = replica; "
                        + "; ".join(f"delete from {t}" for t in self.tables) + "; set session_replication_role = origin")
        self.emulator.predictions.clear()
        self.emulator.creates.clear()
        self.emulator.gets.clear()
        self.emulator.cancels.clear()
        self.emulator.armed.clear()
        self.emulator.behaviour.create_status = None
        self.emulator.behaviour.create_hang_seconds = 0.0
        self.emulator.behaviour.on_create = None
        self.stripe.sessions.clear()
        self.stripe.events.clear()
        self.copies.clear()
        self.pushes.clear()
        self.svc.provider = self.real_provider
        self.stripe._idempotent.clear()
        self.stripe.requests.clear()
        self.stripe.deliveries.clear()
        self.emulator.deliveries.clear()
        self.fresh_pool()

    def fresh_pool(self) -> None:
        """A new connection pool for the stack (the old one closed): every history starts with the same
        pool, and after a step met killed connections none of the rest is left for a later step to meet
        (which one would is timing: what an earlier concurrency opened)."""
        from shared.services import postgres_backend

        old = self.svc.backend.pool
        self.svc.backend.pool = postgres_backend(self.svc.settings, role="service_role").pool
        old.close()
        self.svc.backend.pool.wait()

    def close(self) -> None:
        self.http.close()
        self.db.close()
        self.receiver.server.shutdown()
        self.stack.stop()


# --- one history -------------------------------------------------------------------------------------

@dataclass
class User:
    id: str
    session: str            # the access token
    cred: str               # what its calls carry: the session token or an API key
    key_id: str | None = None
    revoked: bool = False


@dataclass
class History:
    world: World
    users: list[User] = field(default_factory=list)
    gens: list[tuple[int, str]] = field(default_factory=list)       # (user index, generation id)
    sessions: list[tuple[int, str]] = field(default_factory=list)   # (user index, Checkout Session id)
    sent: list[tuple[str, str]] = field(default_factory=list)       # (generation id, webhook body) sent once
    admin: str = ""
    counts: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    meets_them: int = -1    # the step that meets killed connections; the pool drops the rest after it
    step: int = -1          # the step running
    seconds: Counter = field(default_factory=Counter)  # time spent per step kind, and in the checks

    @property
    def http(self):
        return self.world.http

    # --- picking -----------------------------------------------------------------------------------
    def user(self, n: int) -> tuple[int, User]:
        i = n % len(self.users)
        return i, self.users[i]

    def gen(self, n: int) -> tuple[User, str] | None:
        if not self.gens:
            return None
        i, gen_id = self.gens[n % len(self.gens)]
        return self.users[i], gen_id

    @staticmethod
    def auth(token: str, **headers: str) -> dict:
        return {"Authorization": f"Bearer {token}", **headers}

    # --- answers -----------------------------------------------------------------------------------
    def check(self, kind: str, r, user: User | None = None, index: int = 0) -> dict:
        allowed = dict(ALLOWED[kind])
        revoked = user is not None and user.revoked and user.cred != user.session
        for more in (AFTER_A_KILL if self.meets_them == self.step else {}, REVOKED if revoked else {}):
            for status, codes in more.items():
                allowed[status] = (allowed.get(status) or set()) | codes
        assert r.status_code in allowed, f"{kind} answered {r.status_code}: {r.text[:300]}"
        body = r.json()
        if r.status_code == 503 and body.get("code") == "service_unavailable":
            self.met_a_dead_connection(f"{kind}: {body['detail']}")
        codes = allowed[r.status_code]
        if codes:
            assert body.get("code") in codes, f"{kind} {r.status_code} with code {body.get('code')}: {body}"
            assert isinstance(body.get("detail"), str) and body["detail"], body
            if r.status_code in (429, 503):
                assert int(r.headers["Retry-After"]) > 0, r.headers
            if body["code"] == "insufficient_credits":
                assert body["required"] > body["balance"] >= 0, body
        self.counts[f"{kind}:{r.status_code}"] += 1
        return body

    def created(self, r, user_i: int, expected_cost: int | None, index: int, kind: str = "create") -> str | None:
        user = self.users[user_i]
        body = self.check(kind, r, user, index)
        if r.status_code != 202:
            return None
        assert {"generation_id", "status", "cost", "credits_remaining"} <= set(body), body
        if expected_cost is not None:
            assert body["cost"] == expected_cost, f"charged {body['cost']}, the price is {expected_cost}"
        if body["generation_id"] not in {g for _, g in self.gens}:
            self.gens.append((user_i, body["generation_id"]))
        return body["generation_id"]

    # --- the steps ---------------------------------------------------------------------------------
    def sign_up(self, with_key: bool, admin: bool = False) -> User:
        r = self.http.post("/dev/signup", json={"email": f"{uuid.uuid4().hex[:12]}@example.com", "admin": admin})
        body = self.check("signup", r)
        user = User(body["user_id"], body["access_token"], body["access_token"])
        if with_key:
            r = self.http.post("/api-keys", json={"name": "simulation"}, headers=self.auth(user.session))
            key = self.check("api_key", r)
            if r.status_code == 201:  # else a killed connection's 503: the user goes on without a key
                user.cred, user.key_id = key["key"], key["id"]
        return user

    def start(self) -> None:
        """Two users (one calling with an API key) and an admin, made as Supabase Auth makes them (a row
        in auth.users; its trigger grants the bonus) with tokens signed as it signs them: a connection
        and a request fewer each than /dev/signup, which the `sign_up` step goes through."""
        from wan_local.dev_routes import access_token

        secret = self.world.stack.settings.supabase_jwt_secret
        made = []
        for role in (None, None, "admin"):
            email = f"{uuid.uuid4().hex[:12]}@example.com"
            meta = {"role": role} if role else {}
            (uid,) = self.world.db.execute("insert into auth.users (email, raw_app_meta_data) values (%s, %s) "
                                           "returning id", (email, json.dumps(meta))).fetchone()
            token = access_token(str(uid), email, secret, app_metadata=meta)
            made.append(User(str(uid), token, token))
        self.users, self.admin = made[:2], made[2].session
        r = self.http.post("/api-keys", json={"name": "simulation"}, headers=self.auth(self.users[1].session))
        key = self.check("api_key", r)
        self.users[1].cred, self.users[1].key_id = key["key"], key["id"]

    def price(self, model: str, resolution: str, duration: int | None = None) -> int:
        from shared import catalog, costs

        return costs.of(self.world.svc.settings).of(catalog.variant(model, resolution, duration))

    def do(self, index: int, step: Step) -> None:
        a, b, c, d = step.args
        getattr(self, f"step_{step.kind}")(index, a, b, c, d)

    def step_sign_up(self, index, a, b, c, d):
        self.users.append(self.sign_up(with_key=bool(a % 2)))

    def step_top_up(self, index, a, b, c, d):
        self.world.svc.credits.add_credits(self.user(a)[1].id, (5, 10, 50)[b % 3], "purchase", "top-up")

    def step_spends_it_all(self, index, a, b, c, d):
        """The balance goes to 0 (as if spent), so that a later take-back cannot be covered."""
        uid = self.user(a)[1].id
        left = self.world.db.execute("select credits from public.profiles where id = %s", (uid,)).fetchone()[0]
        if left:
            self.world.svc.credits.add_credits(uid, -left, "adjustment", "spent")

    def _t2v(self, user: User, model: str, resolution: str, prompt: str, key: str | None = None,
             webhook: int = 0):
        body = {"prompt": prompt, "model": model, "resolution": resolution}
        if webhook:  # a receiver that answers, or a port where nothing listens
            dead = f"http://127.0.0.1:{self.world.dead_port}/x"
            body["webhook_url"] = self.world.receiver.url if webhook == 1 else dead
        headers = self.auth(user.cred, **({"Idempotency-Key": key} if key else {}))
        return self.http.post("/text-to-video", json=body, headers=headers)

    def _i2v(self, user: User, model: str, resolution: str, seed: int, duration: int | None = None,
             key: str | None = None):
        fields = {"prompt": "the fox turns its head", "model": model, "resolution": resolution}
        if duration:
            fields["duration"] = str(duration)
        headers = self.auth(user.cred, **({"Idempotency-Key": key} if key else {}))
        return self.http.post("/image-to-video", data=fields, files={"image": ("f.png", png(seed), "image/png")},
                              headers=headers)

    def step_create(self, index, a, b, c, d):
        ui, user = self.user(a)
        model, resolution, _ = T2V[b % len(T2V)]
        key = (None, None, "k1", "k2")[c % 4]
        r = self._t2v(user, model, resolution, ("a fox", "a cat")[d % 2], key, webhook=d % 3)
        self.created(r, ui, self.price(model, resolution), index)

    def step_create_image(self, index, a, b, c, d):
        ui, user = self.user(a)
        model, resolution, _ = I2V[b % len(I2V)]
        self.created(self._i2v(user, model, resolution, c, key=(None, "i1")[d % 2]), ui,
                     self.price(model, resolution), index)

    def step_create_priced_by_duration(self, index, a, b, c, d):
        ui, user = self.user(a)
        model, resolution, duration = BY_DURATION[b % len(BY_DURATION)]
        assert catalog_kind(model) == "image-to-video", "a text-to-video model sold by duration: add its step"
        self.created(self._i2v(user, model, resolution, c, duration), ui, self.price(model, resolution, duration),
                     index)

    def step_replay(self, index, a, b, c, d):
        """The same create again with the same key: the first answer, charged once."""
        ui, user = self.user(a)
        key = f"replay-{b % 3}"
        first = self._t2v(user, "t2v-14B", "480p", "a replayed fox", key)
        again = self._t2v(user, "t2v-14B", "480p", "a replayed fox", key)
        one, two = self.created(first, ui, 10, index), self.created(again, ui, 10, index)
        if one and two:
            assert one == two, (one, two)

    def step_refused_prompt(self, index, a, b, c, d):
        ui, user = self.user(a)
        r = self._t2v(user, "t2v-14B", "480p", f"a {BLOCKED} in the snow")
        body = self.check("create", r, user, index)
        assert r.status_code != 202, body  # a blocked term is never charged
        self.counts[f"policy:{body.get('code')}"] += 1

    def step_create_fault(self, index, a, b, c, d):
        """A create that meets a fault at Replicate, or loses its database connection in the middle."""
        from wan_local.replicate_emulator import Fault

        ui, user = self.user(a)
        fault = FAULTS[b % len(FAULTS)]
        self.faults[fault] += 1
        emulator = self.world.emulator
        if fault in ("500", "429", "422"):
            emulator.arm(Fault("refuse", status=int(fault)))
        elif fault == "hang":
            emulator.arm(Fault("hang", seconds=0.4))
        elif fault in ("drop_webhooks", "fail"):
            emulator.arm(Fault(fault))
        else:  # kill_mid_create: Replicate has the job, our connections die before it is recorded
            emulator.behaviour.on_create = self.kill_connections
            self.meets_them = index
        try:
            r = self._t2v(user, "t2v-14B", "480p", "a fox in trouble", webhook=c % 3)
        finally:
            emulator.armed.clear()
            emulator.behaviour.on_create = None
        gen_id = self.created(r, ui, 10, index)
        if fault in ("500", "429", "422", "hang"):
            assert gen_id is None, f"a create Replicate refused answered {r.status_code}"

    def step_crash(self, index, a, b, c, d):
        """The process dies between the charge and the job (called in-process: nothing answers)."""
        from shared import generations
        from shared.schemas import TextToVideoRequest, parse

        ui, user = self.user(a)
        when = ("before", "after")[b % 2]
        self.faults[f"crash_{when}"] += 1
        if c % 3 == 0:  # the same crash loses the work this process was about to spawn (the sweep redoes it)
            self.faults["spawned_work_lost"] += len(self.world.copies) + len(self.world.pushes)
            self.world.copies.clear()
            self.world.pushes.clear()
        request = parse(TextToVideoRequest, {"prompt": "a fox at the end", "model": "t2v-14B", "resolution": "480p"})
        svc = self.world.svc
        svc.provider = _CrashingProvider(self.world.real_provider, when)
        before = {g for _, g in self.gens}
        try:
            generations.create(svc, uuid.UUID(user.id), request, idempotency_key=None,
                               request_hash=request.fingerprint())
        except SimulatedCrash:
            pass
        except Exception as exc:  # noqa: BLE001 - refused before the charge: blocked, no credits, limits
            from shared import errors

            assert isinstance(exc, errors.ApiError), repr(exc)
            if isinstance(exc, errors.ServiceUnavailable):
                self.met_a_dead_connection(f"crash: {exc.detail}")
            else:  # or Replicate did not answer in time, before the crash (failed and refunded)
                assert exc.status < 500 or isinstance(exc, errors.ProviderUnavailable), repr(exc)
        finally:
            svc.provider = self.world.real_provider
        row = self.world.db.execute("select id from public.generations where user_id = %s order by created_at desc "
                                    "limit 1", (user.id,)).fetchone()
        if row and str(row[0]) not in before:
            self.gens.append((ui, str(row[0])))

    def step_retry(self, index, a, b, c, d):
        """Retry one of the history's failed or canceled generations (or, now and then, any)."""
        ended = {r[0] for r in self.world.db.execute(
            "select id::text from public.generations where status in ('failed', 'canceled')")} if self.gens else ()
        ended = [(self.users[i], g) for i, g in self.gens if g in ended]
        picked = ended[a % len(ended)] if ended and c % 4 else self.gen(a)
        if picked:
            user, gen_id = picked
            ui = self.users.index(user)
            key = (None, None, "r1")[b % 3]
            r = self.http.post("/retry", json={"generation_id": gen_id},
                               headers=self.auth(user.cred, **({"Idempotency-Key": key} if key else {})))
            self.created(r, ui, None, index, "retry")

    def step_cancel(self, index, a, b, c, d):
        picked = self.gen(a)
        if picked:
            user, gen_id = picked
            caller = user if b % 3 else self.users[(self.users.index(user) + 1) % len(self.users)]
            r = self.http.post("/cancel", json={"generation_id": gen_id}, headers=self.auth(caller.cred))
            body = self.check("cancel", r, caller, index)
            if caller is not user and r.status_code not in (401, 503):
                assert r.status_code == 404, body  # another user's generation is not found

    def step_extend(self, index, a, b, c, d):
        """Extend one of the history's generations, a succeeded one with its copy when there is one
        (the copies started so far are made first)."""
        self.step_background(index, a, b, c, d)
        done = self.world.db.execute(
            "select id::text from public.generations where status = 'succeeded' and video_path is not null "
            "and user_id = any(%s::uuid[]) order by created_at", ([u.id for u in self.users],)).fetchall()
        ids = [g for g in (r[0] for r in done)]
        if not ids and not self.gens:
            return
        gen_id = ids[a % len(ids)] if ids and b % 4 else self.gen(a)[1]
        ui = next(i for i, g in self.gens if g == gen_id)
        user = self.users[ui]
        r = self.http.post(f"/generations/{gen_id}/extend", json={"prompt": "and then it leaps"},
                           headers=self.auth(user.cred))
        if self.created(r, ui, None, index, "extend"):
            self.counts["extend:started"] += 1

    def step_status(self, index, a, b, c, d):
        picked = self.gen(a)
        if picked:
            user, gen_id = picked
            r = self.http.get("/status", params={"generation_id": gen_id}, headers=self.auth(user.cred))
            body = self.check("status", r, user, index)
            if r.status_code == 200:
                assert body["terminal"] == (body["status"] in ("succeeded", "failed", "canceled")), body

    # --- what Replicate says ---------------------------------------------------------------------
    def prediction_of(self, gen_id: str) -> str | None:
        """The emulator's prediction for one of our generations (its webhook URL names the generation):
        also one whose id we never recorded (a killed connection, a crash after the answer)."""
        for pid, pred in list(self.world.emulator.predictions.items()):
            if pred.webhook and pred.webhook.endswith(f"generation_id={gen_id}"):
                return pid
        return None

    def step_webhook(self, index, a, b, c, d):
        picked = self.gen(a)
        if not picked:
            return
        gen_id = picked[1]
        pid = self.prediction_of(gen_id) or f"never-started-{gen_id[:8]}"
        status = ("starting", "processing", "processing", "succeeded", "succeeded", "failed", "canceled",
                  "aborted")[b % 8]
        pred = self.world.emulator.predictions.get(pid)
        if pred is not None:
            self.world.emulator.set_status(pid, status, logs=f"{c % 101}%",
                                           error="boom" if status == "failed" else None)
            raw = json.dumps(pred.data)
        else:
            raw = json.dumps({"id": pid, "status": status, "logs": f"{c % 101}%", "error": None,
                              "output": self.world.emulator._output_url(pid) if status == "succeeded" else None})
        for _ in range((1, 1, 2, 3)[d % 4]):  # duplicates: the same delivery again
            self.send_replicate(gen_id, raw, "webhook", index)
        self.sent.append((gen_id, raw))

    def step_webhook_again(self, index, a, b, c, d):
        """A late or reordered delivery (a new id, old news)."""
        if self.sent:
            gen_id, raw = self.sent[a % len(self.sent)]
            self.send_replicate(gen_id, raw, "webhook", index)

    def step_webhook_forged(self, index, a, b, c, d):
        from wan_local.replicate_emulator import ReplicateEmulator

        picked = self.gen(a)
        if picked:
            raw = json.dumps({"id": self.prediction_of(picked[1]) or "x", "status": "failed"})
            self.send_replicate(picked[1], raw, "forged", index, ReplicateEmulator().signed_headers(raw))

    def step_webhook_stranger(self, index, a, b, c, d):
        raw = json.dumps({"id": "not-ours", "status": "succeeded", "output": "http://127.0.0.1:9/x.mp4"})
        self.send_replicate(str(uuid.uuid4()), raw, "webhook", index)

    def step_replicate_ends_silently(self, index, a, b, c, d):
        """Replicate finishes the job but its webhook is lost: only the sweep (or the admin) can tell."""
        picked = self.gen(a)
        pid = picked and self.prediction_of(picked[1])
        if pid:
            status = ("succeeded", "failed", "canceled")[b % 3]
            self.world.emulator.set_status(pid, status, error="lost" if status == "failed" else None)

    def send_replicate(self, gen_id: str, raw: str, kind: str, index: int, headers: dict | None = None) -> None:
        r = self.http.post("/webhooks/replicate", params={"generation_id": gen_id}, content=raw,
                           headers=headers or self.world.emulator.signed_headers(raw))
        self.check(kind, r, None, index)

    # --- the operator and time ---------------------------------------------------------------------
    def step_sweep(self, index, a, b, c, d):
        from shared.sweep import sweep
        from tests.support import run_at_once

        if a % 3 == 0:  # two at once
            results = run_at_once(2, lambda i: sweep(self.world.svc))
            for result in results:
                if isinstance(result, Exception):
                    raise result
        else:
            sweep(self.world.svc)

    def step_time_passes(self, index, a, b, c, d):
        minutes = (5, 11, 50)[a % 3]
        self.world.db.execute(
            "update public.generations set created_at = created_at - make_interval(mins => %(m)s), "
            "last_event_at = last_event_at - make_interval(mins => %(m)s), "
            "completed_at = completed_at - make_interval(mins => %(m)s), sweep_claimed_at = null", {"m": minutes})

    def step_background(self, index, a, b, c, d):
        """The spawned work the steps started: video copies and push deliveries."""
        from shared.deliveries import send_due
        from shared.video_copy import copy_video

        world = self.world
        copies, pushes = list(world.copies), list(world.pushes)
        world.copies.clear()
        world.pushes.clear()
        for gen_id in copies:
            self.counts[f"copy:{copy_video(world.svc, gen_id)}"] += 1
        for gen_id in dict.fromkeys(pushes):
            for outcome, n in send_due(world.svc, generation_id=gen_id, budget_seconds=30).items():
                self.counts[f"push:{outcome}"] += n

    def kill_connections(self) -> None:
        """Every connection of the stack to its database, terminated (the checker's own is spared), and
        gone before this returns (bounded), so that the next call surely meets a dead one.
        (pg_terminate_backend's own wait polls every 100 ms: a poll of our own is ~50 times quicker.)"""
        (pids,) = self.world.db.execute(
            "select coalesce(array_agg(pid) filter (where pg_terminate_backend(pid)), '{}') from pg_stat_activity "
            "where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'"
        ).fetchone()
        deadline = time.monotonic() + 10
        while pids and self.world.db.execute("select count(*) from pg_stat_activity where pid = any(%s)",
                                             (pids,)).fetchone()[0]:
            assert time.monotonic() < deadline, f"backends {pids} did not end"
            time.sleep(0.001)

    def met_a_dead_connection(self, what: str = "") -> None:
        assert self.meets_them == self.step, f"a 503 service_unavailable with no database fault to explain it ({what})"

    def step_kill_connections(self, index, a, b, c, d):
        self.faults["kill_between_steps"] += 1
        self.kill_connections()
        self.meets_them = index + 1

    def step_admin_adjust(self, index, a, b, c, d):
        _, user = self.user(a)
        amount = (25, -5, -40, 100)[b % 4]
        r = self.http.post(f"/admin/users/{user.id}/credits", json={"amount": amount, "reason": "simulation"},
                           headers=self.auth(self.admin))
        self.check("admin", r, None, index)

    def step_admin_block(self, index, a, b, c, d):
        _, user = self.user(a)
        r = self.http.post(f"/admin/users/{user.id}/block", json={"reason": "simulation"},
                           headers=self.auth(self.admin))
        self.check("admin", r, None, index)

    def step_admin_unblock(self, index, a, b, c, d):
        _, user = self.user(a)
        r = self.http.post(f"/admin/users/{user.id}/unblock", json={"reason": "simulation"},
                           headers=self.auth(self.admin))
        self.check("admin", r, None, index)

    def step_admin_goodwill(self, index, a, b, c, d):
        """The operator's goodwill refund: refused unless the video was lost, which `b` may first make
        happen (Replicate's copy gone past its retention before ours was made)."""
        picked = self.gen(a)
        if not picked:
            return
        pid = self.prediction_of(picked[1])
        if b % 2 and pid:
            self.world.emulator.set_status(pid, self.world.emulator.predictions[pid].data["status"], data_removed=True)
            self.world.db.execute("update public.generations set completed_at = completed_at - interval '2 hours' "
                                  "where id = %s", (picked[1],))
            from shared.video_copy import copy_video

            self.counts[f"copy:{copy_video(self.world.svc, picked[1])}"] += 1
        r = self.http.post(f"/admin/generations/{picked[1]}/refund", json={"reason": "video lost"},
                           headers=self.auth(self.admin))
        self.check("admin", r, None, index)

    def step_admin_settle(self, index, a, b, c, d):
        picked = self.gen(a)
        if picked:
            r = self.http.post(f"/admin/generations/{picked[1]}/settle", headers=self.auth(self.admin))
            self.check("admin", r, None, index)

    def step_revoke_key(self, index, a, b, c, d):
        _, user = self.user(a)
        if user.key_id and not user.revoked:
            r = self.http.delete(f"/api-keys/{user.key_id}", headers=self.auth(user.session))
            self.check("api_key", r, None, index)
            user.revoked = r.status_code == 200

    # --- buying credits ----------------------------------------------------------------------------
    def step_buy(self, index, a, b, c, d):
        ui, user = self.user(a)
        key = (None, None, "b1")[c % 3]
        r = self.http.post("/checkout", json={"pack_id": ("credits-100", "credits-500")[b % 2]},
                           headers=self.auth(user.cred, **({"Idempotency-Key": key} if key else {})))
        body = self.check("checkout", r, user, index)
        if r.status_code != 201:
            return
        if body["session_id"] not in {s for _, s in self.sessions}:
            self.sessions.append((ui, body["session_id"]))
        if d % 3:  # paid at once (card) or later (a bank debit), the event delivered 0-2 times
            self.world.stripe.pay(body["session_id"], later=d % 3 == 2)
            self.deliver_last(d % 2 + 1, index)

    def step_stripe(self, index, a, b, c, d):
        """What Stripe does next to one of the history's sessions, among what its state allows."""
        if not self.sessions:
            return
        stripe = self.world.stripe
        sid = self.sessions[a % len(self.sessions)][1]
        s = stripe.sessions[sid]
        refundable = s.charge is not None and s.charge["amount_refunded"] < s.charge["amount"] and not s.disputes
        if s.data["status"] == "open":
            (stripe.pay(sid, later=bool(b % 2)) if c % 3 else stripe.expire(sid))
        elif s.data["status"] == "complete" and s.data["payment_status"] == "unpaid":
            stripe.async_result(sid, bool(b % 3))
        elif s.disputes and s.disputes[-1]["status"] == "needs_response":
            stripe.close_dispute(sid, ("won", "lost")[b % 2])
        elif refundable and c % 2:
            stripe.refund(sid, (None, 1, 100, 250)[b % 4])
        elif refundable:
            stripe.dispute(sid)
        else:
            return
        self.deliver_last(d % 3, index)

    def step_stripe_event_again(self, index, a, b, c, d):
        """A duplicate, late or reordered delivery of any event Stripe made (freshly signed)."""
        events = self.world.stripe.events
        if events:
            event = events[a % len(events)]
            if b % 4 == 0:  # the success page racing the event's delivery
                from tests.support import run_at_once

                sid = event["data"]["object"].get("id")
                owner = next((self.users[i] for i, s in self.sessions if s == sid), self.users[0])
                run_at_once(2, lambda i: self.send_stripe(event, index) if i else self.http.get(
                    "/checkout/status", params={"session_id": sid}, headers=self.auth(owner.cred)))
            else:
                self.send_stripe(event, index)

    def step_success_page(self, index, a, b, c, d):
        if self.sessions:
            ui, sid = self.sessions[a % len(self.sessions)]
            owner = self.users[ui]
            caller = owner if b % 3 else self.users[(ui + 1) % len(self.users)]
            r = self.http.get("/checkout/status", params={"session_id": sid}, headers=self.auth(caller.cred))
            body = self.check("checkout_status", r, caller, index)
            assert caller is owner or r.status_code in (401, 404, 503), body  # another's session is not found
            if r.status_code == 200:
                assert body["status"] in ("open", "paid", "credited", "expired", "failed", "reversed"), body

    def deliver_last(self, times: int, index: int) -> None:
        for _ in range(times):
            self.send_stripe(self.world.stripe.events[-1], index)

    def send_stripe(self, event: dict, index: int):
        raw = json.dumps(event)
        r = self.http.post("/webhooks/stripe", content=raw, headers=self.world.stripe.signed(raw))
        self.check("stripe_webhook", r, None, index)
        return r

    # --- the rules, after every step ---------------------------------------------------------------
    def books(self) -> None:
        problems, wrong = self.world.db.execute(BOOKS).fetchone()
        assert problems == [], f"ledger_discrepancies(): {problems}"
        assert wrong == [], f"generations not charged exactly their cost (and refunded only if failed): {wrong}"
        if self.sessions:
            self.purchases()

    def purchases(self) -> None:
        rows = self.world.db.execute(
            """select p.session_id, p.credits, p.amount, p.unrecovered_credits,
                      count(t.id) filter (where t.type = 'purchase'),
                      coalesce(-sum(t.amount) filter (where t.type = 'reversal'), 0)
               from public.purchases p left join public.credit_transactions t on t.purchase_session_id = p.session_id
               group by p.session_id""").fetchall()
        for sid, credits, amount, unrecovered, purchase_rows, taken in rows:
            s = self.world.stripe.sessions[sid]
            assert purchase_rows <= 1, f"session {sid} credited {purchase_rows} times"
            if purchase_rows:
                assert s.data["payment_status"] == "paid", f"session {sid} credited but {s.data['payment_status']}"
            refunded = s.charge["amount_refunded"] if s.charge else 0
            disputed = sum(x["amount"] for x in s.disputes)
            most = min(credits, credits * refunded // amount + credits * disputed // amount)
            assert 0 <= taken + unrecovered <= most, f"session {sid}: took back {taken}+{unrecovered}, at most {most}"


# Every generation's ledger rows are exactly its charge, then its refund if it failed or was canceled,
# or a goodwill refund (an adjustment) if it succeeded and its video was lost.
BOOKS = """
select (select coalesce(jsonb_agg(to_jsonb(d)), '[]'::jsonb) from public.ledger_discrepancies() d),
       (select coalesce(jsonb_agg(jsonb_build_object('id', g.id, 'status', g.status, 'cost', g.cost, 'rows', r.rows)),
                        '[]'::jsonb)
        from public.generations g
        cross join lateral (select array_agg(t.type || ' ' || t.amount order by t.id) as rows
                            from public.credit_transactions t where t.generation_id = g.id) r
        where (case when g.status in ('failed', 'canceled') then r.rows = array['deduction ' || -g.cost, 'refund ' || g.cost]
                    else r.rows = array['deduction ' || -g.cost]
                         or (g.status = 'succeeded' and g.video_lost
                             and r.rows = array['deduction ' || -g.cost, 'adjustment ' || g.cost]) end) is not true)
"""


@dataclass
class Outcome:
    seed: int
    steps: int
    seconds: float
    counts: Counter
    faults: Counter
    kinds: Counter
    failure: str | None = None
    shrunk: list[str] | None = None
    time_by_kind: Counter = field(default_factory=Counter)
    shrunk_failure: str | None = None


def run_history(world: World, steps: list[Step]) -> History:
    """Run one history from an empty database; raises HistoryFailed at the first broken rule."""
    from shared import errors

    started = time.perf_counter()
    world.reset()
    history = History(world)
    try:
        history.start()
        history.books()
        history.seconds["(emptying the database, three sign-ups)"] += time.perf_counter() - started
    except AssertionError as exc:
        raise HistoryFailed(-1, Step("start", ()), str(exc)) from exc
    for index, step in enumerate(steps):
        started = time.perf_counter()
        history.step = index
        try:
            try:
                history.do(index, step)
            except errors.ServiceUnavailable as exc:  # in-process work (a sweep, a copy) that met a killed connection
                history.met_a_dead_connection(f"{step.kind}: {exc.detail}")
                history.counts[f"{step.kind}:service_unavailable"] += 1
            if index == history.meets_them:  # it met what it met; the rest go with their pool
                world.fresh_pool()
            checked = time.perf_counter()
            history.seconds[step.kind] += checked - started
            history.books()
            history.seconds["(the checks after each step)"] += time.perf_counter() - checked
        except HistoryFailed:
            raise
        except (AssertionError, Exception) as exc:  # noqa: BLE001 - every failure is the history's
            message = str(exc) if isinstance(exc, AssertionError) else "".join(
                traceback.format_exception_only(type(exc), exc)).strip()
            raise HistoryFailed(index, step, message) from exc
    return history


def shrink(world: World, steps: list[Step], first: HistoryFailed, attempts: int = 400) -> tuple[list[Step], str]:
    """The shortest history (removing chunks of steps, then single ones) that still fails at a step of
    the same kind, within `attempts` runs (a count, not a time: the same history shrinks the same way);
    the history as it was if a run again does not fail (a timing-dependent failure)."""
    steps = steps[:first.index + 1]
    if attempts <= 0:
        return steps, str(first)
    failure = _fails(world, steps, first.step.kind)
    if failure is None:
        return steps, "(it did not fail when run again: timing-dependent)"
    runs, chunk = 1, max(1, len(steps) // 2)
    while chunk >= 1 and runs < attempts:
        i, removed = 0, False
        while i < len(steps) and runs < attempts:
            candidate = steps[:i] + steps[i + chunk:]
            found = _fails(world, candidate, first.step.kind) if candidate else None
            runs += 1
            if found:
                steps, failure, removed = candidate[:found.index + 1], found, True
            else:
                i += chunk
        if not removed:
            chunk //= 2
    return steps, str(failure)


def _fails(world: World, steps: list[Step], kind: str) -> HistoryFailed | None:
    try:
        run_history(world, steps)
    except HistoryFailed as exc:
        return exc if exc.step.kind == kind else None
    return None


# --- workers and the command -------------------------------------------------------------------------

def _worker(n: int, database_url: str, seeds: list[int], steps: int, results, stop, shrink_attempts: int) -> None:
    import logging

    if not os.environ.get("WAN_SIMULATE_LOGS"):  # the service's logs of the faults it meets are expected
        logging.disable(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix=f"wan-sim-{n}-") as tmp:
        world = World(database_url, Path(tmp))
        try:
            for seed in seeds:
                if stop.is_set():
                    break
                history_steps = plan(seed, steps)
                started = time.perf_counter()
                try:
                    history = run_history(world, history_steps)
                except HistoryFailed as exc:
                    shrunk, message = shrink(world, history_steps, exc, shrink_attempts)
                    results.put(Outcome(seed, len(history_steps), time.perf_counter() - started, Counter(), Counter(),
                                        Counter(s.kind for s in history_steps), failure=str(exc),
                                        shrunk=[str(s) for s in shrunk], shrunk_failure=message))
                    stop.set()
                    break
                results.put(Outcome(seed, len(history_steps), time.perf_counter() - started, history.counts,
                                    history.faults, Counter(s.kind for s in history_steps),
                                    time_by_kind=history.seconds))
        except BaseException:
            traceback.print_exc()  # the history's own failures are reported; this is the worker's
            raise
        finally:
            results.put(None)
            world.close()


def _database_for_each_worker(workers: int, pg_dir: Path, sabotage: str | None = None):
    import psycopg

    from wan_local.embedded_pg import EmbeddedPostgres
    from wan_local.migrate import apply_bootstrap, migrate

    server = EmbeddedPostgres(pg_dir, durable=False).start()
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute("create database sim_template")
    apply_bootstrap(server.url("sim_template"))
    migrate(server.url("sim_template"))
    if sabotage:  # a rule broken on purpose (tests/test_simulation.py): the simulator must catch it
        with psycopg.connect(server.url("sim_template"), autocommit=True) as conn:
            conn.execute(sabotage)
    with psycopg.connect(server.url(), autocommit=True) as conn:
        for n in range(workers):
            conn.execute(f"create database sim_{n} template sim_template")
    return server, [server.url(f"sim_{n}") for n in range(workers)]


def simulate(histories: int, seed: int, workers: int, steps: int = STEPS, progress=None,
             sabotage: str | None = None, shrink_attempts: int = 400) -> dict:
    """Run `histories` histories (seeds seed, seed+1, ...) on `workers` processes; the summary.
    The first failing history stops the run, shrunk in at most `shrink_attempts` runs."""
    from tests.support import postgres_tmp_dir

    workers = max(1, min(workers, histories))
    started = time.perf_counter()
    with postgres_tmp_dir() as pg_dir:
        server, urls = _database_for_each_worker(workers, pg_dir, sabotage)
        try:
            context = multiprocessing.get_context("spawn")
            results, stop = context.Queue(), context.Event()
            seeds = [seed + i for i in range(histories)]
            processes = [context.Process(target=_worker, daemon=True,
                                         args=(n, urls[n], seeds[n::workers], steps, results, stop, shrink_attempts))
                         for n in range(workers)]
            for p in processes:
                p.start()
            summary = {"histories": 0, "steps": 0, "seconds": 0.0, "counts": Counter(), "faults": Counter(),
                       "kinds": Counter(), "time_by_kind": Counter(), "failure": None, "seed": seed,
                       "workers": workers, "steps_per_history": steps}
            running = workers
            while running:
                outcome = results.get()
                if outcome is None:
                    running -= 1
                    continue
                if outcome.failure:
                    summary["failure"] = {"seed": outcome.seed, "message": outcome.failure, "shrunk": outcome.shrunk,
                                          "shrunk_failure": outcome.shrunk_failure}
                    continue
                summary["histories"] += 1
                summary["steps"] += outcome.steps
                summary["counts"] += outcome.counts
                summary["faults"] += outcome.faults
                summary["kinds"] += outcome.kinds
                summary["time_by_kind"].update(outcome.time_by_kind)
                if progress and summary["histories"] % 100 == 0:
                    progress(summary, time.perf_counter() - started)
            for p in processes:
                p.join(timeout=60)
            bad = [p.exitcode for p in processes if p.exitcode]
            if bad and not summary["failure"]:
                summary["failure"] = {"seed": None, "message": f"a worker died (exit codes {bad})", "shrunk": None,
                                      "shrunk_failure": None}
        finally:
            server.stop()
    summary["seconds"] = round(time.perf_counter() - started, 1)
    return summary


def report(summary: dict) -> str:
    s = summary
    lines = [f"{s['histories']} histories passed, {s['steps']} steps in {s['seconds']} s on {s['workers']} workers "
             f"(seeds {s['seed']}..{s['seed'] + max(s['histories'] - 1, 0)}, {s['steps_per_history']} steps each)",
             "faults injected: " + (", ".join(f"{k} {v}" for k, v in sorted(s["faults"].items())) or "none"),
             "steps by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(s["kinds"].items())),
             "answers: " + ", ".join(f"{k} {v}" for k, v in sorted(s["counts"].items())),
             "where the workers' time went (s, and ms per step of the kind):"]
    for kind, spent in s["time_by_kind"].most_common():
        per = f", {spent * 1000 / s['kinds'][kind]:.1f} ms each" if s["kinds"].get(kind) else ""
        lines.append(f"  {kind}: {spent:.1f}{per}")
    failure = s["failure"]
    if failure:
        lines += ["", f"FAILED: history seed {failure['seed']}: {failure['message']}"]
        if failure["shrunk"]:
            lines += [f"shrunk to {len(failure['shrunk'])} steps, which fail at the last: {failure['shrunk_failure']}"]
            lines += [f"  {i}. {step}" for i, step in enumerate(failure["shrunk"])]
        if failure["seed"] is not None:
            lines += [f"replay: scripts/simulate --seed {failure['seed']} --histories 1"]
    else:
        lines += ["", "every rule held after every step"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/simulate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--histories", type=int, default=100, help="how many histories (default 100)")
    parser.add_argument("--seed", type=int, default=None, help="the first history's seed (default: random, printed)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="worker processes (default: cores)")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"steps per history (default {STEPS})")
    parser.add_argument("--shrink-attempts", type=int, default=400, help="runs spent shrinking a failure (default 400)")
    parser.add_argument("--json", type=Path, help="also write the summary here as JSON")
    args = parser.parse_args(argv)
    if args.histories < 1 or args.workers < 1 or args.steps < 1:
        parser.error("--histories, --workers and --steps must be at least 1")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**9)
    print(f"simulate: {args.histories} histories from seed {seed} on {min(args.workers, args.histories)} workers",
          flush=True)

    def progress(summary, elapsed):
        print(f"  {summary['histories']} histories, {summary['steps']} steps, {elapsed:.0f} s", flush=True)

    summary = simulate(args.histories, seed, args.workers, args.steps, progress, shrink_attempts=args.shrink_attempts)
    print(report(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, default=dict))
    return 1 if summary["failure"] else 0


if __name__ == "__main__":
    sys.exit(main())
