"""A Replicate emulator: a real HTTP server speaking the part of Replicate's API the service uses.

- POST /v1/models/{owner}/{name}/predictions and POST /v1/predictions (create by model / version)
- GET /v1/predictions/{id}, POST /v1/predictions/{id}/cancel
- GET /v1/webhooks/default/secret
- GET /v1/account and GET /v1/models/{owner}/{name} (what `wan-api doctor` asks): the account, and each
  catalog model with `latest_version.openapi_schema` built from the catalog's recorded inputs, shaped
  as Cog publishes it (`components.schemas.Input` with `required` and `properties`, each `choices`
  input an enum component referenced through `allOf`; replicate-python 1.0.7's Account, Model and
  Version; replicate.com/docs/reference/http#models.get). Tests make a model drift by changing
  `models[...]` (see `input_schema`), or remove it.
- GET /files/{id}/output.mp4: the output, a small real H.264 MP4 (wan_local/sample_video.py) of the
  input's aspect ratio (or, for the models without one, the input image's shape) and length
  (`duration` seconds, or `num_frames`, at 16 fps), whose colours change from its first frame to its last

It validates every create as Replicate does, against the input schema it publishes for the model
(built from the models' input data in shared/catalog.py, unless a test made it drift)
(a 422 with Replicate's `invalid_fields` body for a value the model cannot take, a 404 for a model
that does not exist; inputs a model does not have are dropped, as Replicate drops them), answers with
the whole prediction object (urls, metrics, webhook, source, data_removed after the retention),
honours `Cancel-After` (an unstarted prediction past it ends `aborted`), and can answer 429 with
`Retry-After`.

Predictions move starting -> processing (logs print a percentage every 5 %) -> succeeded over
`Behaviour.run_seconds`, and the emulator POSTs Standard Webhooks-signed events to the prediction's
webhook as its `webhook_events_filter` asks: `start`, `logs` and `output` (at most one of each per
500 ms, as Replicate throttles them), and `completed`, retried on failure as Replicate does.

Given a `state_dir`, every prediction is kept there (one JSON file each, replaced atomically) and a new
emulator on the same directory knows them and, after `resume()`, carries unfinished runs on from
their last step: restarting the local stack does not lose a generation. Without one it keeps
nothing (the tests' default). Tests steer it through `Behaviour` and the methods below.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from standardwebhooks.webhooks import Webhook

from shared import catalog
from wan_local import sample_video

STEPS = 20                 # a run prints 5 %, 10 %, … 95 %, then ends at 100 %
THROTTLE_SECONDS = 0.5     # Replicate sends `logs` and `output` events at most once per 500 ms
# (https://replicate.com/docs/topics/webhooks/setup-webhook, "Webhook events filter")


@dataclass(slots=True)  # slots: a test setting a setting that does not exist fails instead of doing nothing
class Behaviour:
    """How the emulator behaves; tests change it between requests."""

    run_seconds: float = 5.0             # how long an automatic run takes (STEPS steps of 5 %)
    auto_run: bool = True                # False: predictions wait in `starting` for finish()
    outcome: str = "succeeded"           # how automatic runs end: succeeded, failed, canceled, aborted
    create_status: int | None = None     # answer creates with this HTTP error status (e.g. 503, 429)
    create_hang_seconds: float = 0.0     # sleep this long before answering a create
    answer_create_after_run: bool = False  # run the prediction to its end (webhooks sent) before answering
    get_hang_seconds: float = 0.0        # sleep this long before answering a GET
    cancel_hang_seconds: float = 0.0     # sleep this long before answering a cancel
    get_status: int | None = None        # answer GET /v1/predictions/{id} with this error status
    cancel_status: int | None = None     # answer cancels with this error status
    deliver_webhooks: bool = True        # False: webhooks are "lost"
    webhook_retries: int = 3             # attempts for the completed event
    fetch_inputs: bool = True            # fetch an input `image` URL, as Replicate does
    retry_after: int = 1                 # the Retry-After of a 429 answer
    retention_seconds: float = 3600.0    # API predictions' inputs, outputs and logs go after an hour
    # Called (in a worker thread) once a create is accepted, before it is answered: what happens to the
    # caller while Replicate is answering (tests/simulation.py kills its database connections here).
    on_create: Callable[[], None] | None = None


FAULTS = ("fail", "refuse", "hang", "drop_webhooks")


@dataclass(frozen=True)
class Fault:
    """A fault armed for the next create (`wan-api dev`'s POST /dev/emulator/next), used once:
    fail: the prediction runs and ends `failed`; refuse: the create is answered `status` (500, 429
    or 422, each with Replicate's body); hang: the create waits `seconds` before answering;
    drop_webhooks: the prediction runs but none of its webhooks is sent."""

    kind: str
    status: int | None = None
    seconds: float | None = None


@dataclass
class _Prediction:
    """One prediction: `data` is exactly what the API answers for it; the rest is the emulator's own."""

    data: dict
    webhook: str | None
    events: list[str]
    cancel_after: float | None = None    # time.time() after which Replicate stops it (Cancel-After)
    steps_done: int = 0                  # of the run's STEPS; a resumed run goes on from here
    cancel_requested: threading.Event = field(default_factory=threading.Event)  # also set on close()
    last_sent: dict = field(default_factory=dict)  # event -> time.monotonic() of its last delivery
    outcome: str | None = None           # how this run ends, when a fault decided it (else behaviour.outcome)
    deliver: bool = True                 # False: this prediction's webhooks are lost (a fault)
    image_shape: str | None = None       # the fetched input image's ratio, for models that follow it

    def record(self) -> dict:
        return {"data": self.data, "webhook": self.webhook, "events": self.events,
                "cancel_after": self.cancel_after, "steps_done": self.steps_done,
                "outcome": self.outcome, "deliver": self.deliver, "image_shape": self.image_shape}


class ReplicateEmulator:
    def __init__(self, webhook_secret: str | None = None, base_url: str = "http://127.0.0.1",
                 state_dir: Path | None = None):
        self.webhook_secret = webhook_secret or "whsec_" + _b64(secrets.token_bytes(24))
        self.base_url = base_url
        self.behaviour = Behaviour()
        self.state_dir = Path(state_dir) if state_dir else None
        self.predictions: dict[str, _Prediction] = self._load()
        self._closed = threading.Event()
        self._runs: list[threading.Thread] = []
        self.deliveries: list[dict] = []   # every webhook sent: {"url", "headers", "body", "event", "status", "sent_at"}
        self.creates: list[dict] = []      # every create request body
        self.gets: list[str] = []          # every prediction id GET asked for
        self.cancels: list[str] = []       # every prediction id a cancel asked for
        self.armed: list[Fault] = []       # faults for the next creates, first armed first used
        self._lock = threading.Lock()
        self.api_token: str | None = None  # set: only this token is accepted (any is, by default)
        self.account = {"type": "user", "username": "local-emulator", "name": "Local Replicate emulator",
                        "github_url": None}
        self.models: dict[str, dict] = {name: published_model(m) for name, m in catalog.REPLICATE_MODELS.items()}
        self.app = self._build_app()

    # --- keeping predictions across restarts -------------------------------------------------
    def _load(self) -> dict[str, _Prediction]:
        if not self.state_dir:
            return {}
        self.state_dir.mkdir(parents=True, exist_ok=True)
        found = {}
        for path in sorted(self.state_dir.glob("*.json")):
            record = json.loads(path.read_text())
            found[record["data"]["id"]] = _Prediction(**record)
        return found

    def _save(self, pred: _Prediction) -> None:
        """Write one prediction atomically (a crash leaves the old file or the new one, never half)."""
        if not self.state_dir or self._closed.is_set():
            return
        path = self.state_dir / f"{pred.data['id']}.json"
        tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(pred.record()))
        os.replace(tmp, path)

    def resume(self) -> None:
        """Carry on the runs a previous emulator on this state_dir left unfinished (call once the
        server listens: URLs follow `base_url`, which may have changed)."""
        for pred in self.predictions.values():
            api = f"{self.base_url}/v1/predictions/{pred.data['id']}"
            self._set(pred, urls=pred.data["urls"] | {"get": api, "cancel": f"{api}/cancel"},
                      **({"output": self._output_url(pred.data["id"])} if pred.data["output"] else {}))
            if pred.data["status"] in ("starting", "processing"):
                self._start_run(pred, resumed=True)

    def close(self) -> None:
        """Stop every run where it is (its state stays on disk for the next emulator)."""
        self._closed.set()
        for pred in list(self.predictions.values()):
            pred.cancel_requested.set()
        for thread in self._runs:
            thread.join(timeout=10)

    # --- steering, for tests -------------------------------------------------------------------
    def finish(self, prediction_id: str, status: str = "succeeded", error: str | None = None) -> dict:
        """End a prediction now and deliver its completed webhook."""
        pred = self.predictions[prediction_id]
        if status in ("succeeded", "failed") and not pred.data["started_at"]:
            self._set(pred, started_at=_now())  # it ran, however briefly
        self._set(pred, status=status, error=error,
                  output=self._output_url(prediction_id) if status == "succeeded" else None,
                  logs=pred.data["logs"] + ("100%\n" if status == "succeeded" else ""))
        if status == "succeeded":
            self._deliver(pred, "output")
        self._deliver(pred, "completed")
        return pred.data

    def set_status(self, prediction_id: str, status: str, **changes: Any) -> dict:
        """Change what GET answers, without sending any webhook (a lost webhook)."""
        pred = self.predictions[prediction_id]
        output = self._output_url(prediction_id) if status == "succeeded" else None
        self._set(pred, status=status, **({"output": output} | changes))
        return pred.data

    def signed_headers(self, body: str, *, msg_id: str | None = None, timestamp: datetime | None = None) -> dict:
        msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
        timestamp = timestamp or datetime.now(timezone.utc)
        return {"webhook-id": msg_id, "webhook-timestamp": str(int(timestamp.timestamp())),
                "webhook-signature": Webhook(self.webhook_secret).sign(msg_id, timestamp, body),
                "content-type": "application/json"}

    def input_schema(self, model_name: str) -> dict:
        """The published Input schema of a model, to change in place (a drift)."""
        return self.models[model_name]["latest_version"]["openapi_schema"]["components"]["schemas"]["Input"]

    def enum_schema(self, model_name: str, input_name: str) -> dict:
        """The enum component one input refers to (its `choices`), to change in place."""
        return self.models[model_name]["latest_version"]["openapi_schema"]["components"]["schemas"][input_name]

    # --- the API ---------------------------------------------------------------------------------
    def _build_app(self) -> FastAPI:
        app = FastAPI(title="Replicate emulator", openapi_url=None)

        @app.middleware("http")
        async def _auth(request: Request, call_next):
            auth = request.headers.get("authorization", "")
            refused = not auth.startswith(("Bearer ", "Token ")) or (
                self.api_token is not None and auth.split(" ", 1)[1] != self.api_token)
            if request.url.path.startswith("/v1/") and refused:
                return JSONResponse({"title": "Unauthenticated", "detail": "You did not pass an authentication token",
                                     "status": 401}, status_code=401)
            return await call_next(request)

        @app.post("/v1/models/{owner}/{name}/predictions")
        async def create_by_model(owner: str, name: str, request: Request):
            return await self._create(await request.json(), model=f"{owner}/{name}",
                                      cancel_after=request.headers.get("cancel-after"))

        @app.post("/v1/predictions")
        async def create_by_version(request: Request):
            body = await request.json()
            return await self._create(body, model=None, version=body.get("version"),
                                      cancel_after=request.headers.get("cancel-after"))

        @app.get("/v1/predictions/{prediction_id}")
        def get(prediction_id: str):
            self.gets.append(prediction_id)
            time.sleep(self.behaviour.get_hang_seconds)
            if self.behaviour.get_status:
                return _problem(self.behaviour.get_status, retry_after=self.behaviour.retry_after)
            pred = self.predictions.get(prediction_id)
            return self._refresh(pred).data if pred else _problem(404, "Not found")

        @app.post("/v1/predictions/{prediction_id}/cancel")
        def cancel(prediction_id: str):
            self.cancels.append(prediction_id)
            time.sleep(self.behaviour.cancel_hang_seconds)
            if self.behaviour.cancel_status:
                return _problem(self.behaviour.cancel_status)
            pred = self.predictions.get(prediction_id)
            if not pred:
                return _problem(404, "Not found")
            if pred.data["status"] in ("starting", "processing"):
                pred.cancel_requested.set()
                self._set(pred, status="canceled")
                threading.Thread(target=self._deliver, args=(pred, "completed"), daemon=True).start()
            return pred.data

        @app.get("/v1/account")
        def account():
            return self.account

        @app.get("/v1/models/{owner}/{name}")
        def model(owner: str, name: str):
            found = self.models.get(f"{owner}/{name}")
            return found if found else _problem(404, "The requested resource could not be found.", title="Not found")

        @app.get("/v1/webhooks/default/secret")
        def webhook_secret():
            return {"key": self.webhook_secret}

        @app.get("/files/{prediction_id}/output.mp4")
        def output(prediction_id: str):
            pred = self._refresh(self.predictions[prediction_id]) if prediction_id in self.predictions else None
            if not pred or pred.data["data_removed"]:  # gone with the prediction's data, after the retention
                return _problem(404, "Not found")
            # Replicate's Wan models make 16:9 unless asked for 9:16 (the wavespeed i2v ones ignore the
            # image's shape); the models without an aspect_ratio input follow the image.
            model_input = pred.data["input"]
            ratio = model_input.get("aspect_ratio") or pred.image_shape or "16:9"
            return Response(sample_video.make_mp4(ratio, sample_video.frames_for(model_input)),
                            media_type="video/mp4")

        return app

    async def _create(self, body: dict, *, model: str | None, version: str | None = None,
                      cancel_after: str | None = None):
        import asyncio

        behaviour = self.behaviour
        self.creates.append(body)
        with self._lock:
            fault = self.armed.pop(0) if self.armed else None
        if behaviour.create_hang_seconds or (fault and fault.kind == "hang"):
            await asyncio.sleep(fault.seconds if fault and fault.kind == "hang" else behaviour.create_hang_seconds)
        if fault and fault.kind == "refuse":
            if fault.status == 422:  # what Replicate answers an input the model's schema refuses
                return _invalid([{"type": "emulated", "field": "input.prompt",
                                  "description": "refused by the emulator (POST /dev/emulator/next)"}])
            return _problem(fault.status, retry_after=behaviour.retry_after)
        if behaviour.create_status:
            return _problem(behaviour.create_status, retry_after=behaviour.retry_after)
        if not isinstance(body.get("input"), dict):
            return _invalid([{"type": "required", "field": "(root)", "description": "input is required"}])
        model_input = body["input"]
        if model is not None:
            # Validated against the schema this emulator publishes (the catalog's, unless a test made
            # it drift), as Replicate validates against the model's own.
            schema = self.models[model]["latest_version"]["openapi_schema"] if model in self.models else None
            if schema is None:
                return _problem(404, "The requested resource could not be found.", title="Not found")
            invalid = check_against_schema(schema, model_input)
            if invalid:
                return _invalid(invalid)
            # Replicate drops inputs the model does not have, without a word.
            properties = schema["components"]["schemas"]["Input"]["properties"]
            model_input = {k: v for k, v in model_input.items() if k in properties}
        seconds = _duration_seconds(cancel_after) if cancel_after else None
        if cancel_after and seconds is None:
            return _problem(400, f"Invalid Cancel-After header: {cancel_after!r}", title="Bad request")
        prediction_id = uuid.uuid4().hex[:26]
        events = body.get("webhook_events_filter") or ["start", "output", "logs", "completed"]
        api = f"{self.base_url}/v1/predictions/{prediction_id}"
        data = {
            "id": prediction_id, "model": model or "emulator/version", "version": version or "emulator",
            "input": model_input, "logs": "", "output": None, "data_removed": False, "error": None,
            "source": "api", "status": "starting", "created_at": _now(), "started_at": None,
            "completed_at": None,
            "urls": {"get": api, "cancel": f"{api}/cancel", "stream": f"{self.base_url}/v1/streams/{prediction_id}",
                     "web": f"https://replicate.com/p/{prediction_id}"},
            "metrics": {}, "webhook": body.get("webhook"), "webhook_events_filter": events,
        }
        pred = _Prediction(data=data, webhook=body.get("webhook"), events=events,
                           cancel_after=time.time() + seconds if seconds else None,
                           outcome="failed" if fault and fault.kind == "fail" else None,
                           deliver=not (fault and fault.kind == "drop_webhooks"))
        self.predictions[prediction_id] = pred
        self._save(pred)
        answer = JSONResponse(data, status_code=201)  # the prediction as it was when created
        if behaviour.on_create is not None:
            await asyncio.to_thread(behaviour.on_create)
        if behaviour.answer_create_after_run:
            await asyncio.to_thread(self._run, pred)  # its webhooks land before the create's answer
        else:
            self._start_run(pred)
        return answer

    def _refresh(self, pred: _Prediction) -> _Prediction:
        """What time changes by itself: Cancel-After passing, and the data removed after the retention."""
        if pred.cancel_after and time.time() > pred.cancel_after and pred.data["status"] in ("starting", "processing"):
            # Unstarted: aborted (and not billed). Running: canceled.
            status = "aborted" if pred.data["status"] == "starting" else "canceled"
            pred.cancel_requested.set()
            self._set(pred, status=status)
            threading.Thread(target=self._deliver, args=(pred, "completed"), daemon=True).start()
        done = pred.data["completed_at"]
        if done and not pred.data["data_removed"] and (
                time.time() - _parse_time(done) > self.behaviour.retention_seconds):
            self._set(pred, data_removed=True, input={}, output=None, logs="")
        return pred

    def arm(self, fault: Fault) -> list[Fault]:
        """Make the next create (after those already armed) meet `fault`; the faults now waiting."""
        with self._lock:
            self.armed.append(fault)
            return list(self.armed)

    # --- a prediction's life -----------------------------------------------------------------
    def _start_run(self, pred: _Prediction, *, resumed: bool = False) -> None:
        thread = threading.Thread(target=self._run, args=(pred,), kwargs={"resumed": resumed}, daemon=True)
        self._runs = [t for t in self._runs if t.is_alive()] + [thread]
        thread.start()

    def _run(self, pred: _Prediction, *, resumed: bool = False) -> None:
        if not resumed:
            self._deliver(pred, "start")
            for name in ("image", "last_image"):
                url = pred.data["input"].get(name)
                if url and self.behaviour.fetch_inputs and not self._fetch(pred, name, url):
                    self._set(pred, status="failed", error=f"could not fetch input {name} {url}")
                    self._deliver(pred, "completed")
                    return
        if not self.behaviour.auto_run:
            return
        step = self.behaviour.run_seconds / STEPS
        while pred.steps_done < STEPS - 1:
            if self._stopped(pred, step):
                return
            pred.steps_done += 1
            self._set(pred, status="processing", logs=pred.data["logs"] + f"{pred.steps_done * 100 // STEPS}%\n",
                      started_at=pred.data["started_at"] or _now())
            self._deliver(pred, "logs")
        if self._stopped(pred, step):
            return
        outcome = pred.outcome or self.behaviour.outcome
        self.finish(pred.data["id"], outcome, None if outcome == "succeeded" else "emulated failure")

    def _stopped(self, pred: _Prediction, seconds: float) -> bool:
        """Wait one step; True when the run must end here (canceled, ended, or the emulator closing)."""
        pred.cancel_requested.wait(seconds)
        return self._closed.is_set() or self._refresh(pred).data["status"] not in ("starting", "processing")

    def _fetch(self, pred: _Prediction, name: str, url: str) -> bool:
        """Fetch an input file as Replicate does; the first image's shape is kept for the output."""
        try:
            answer = httpx.get(url, timeout=5)
        except httpx.HTTPError:
            return False
        if answer.status_code != 200:
            return False
        if name == "image":
            pred.image_shape = _ratio_of(answer.content)
        return True

    def _set(self, pred: _Prediction, **changes: Any) -> None:
        with self._lock:
            pred.data.update(changes)
            if changes.get("status") in ("succeeded", "failed", "canceled", "aborted"):
                data = pred.data
                data["completed_at"] = _now()
                end = _parse_time(data["completed_at"])
                started = _parse_time(data["started_at"]) if data["started_at"] else end
                data["metrics"] = {"total_time": round(end - _parse_time(data["created_at"]), 3)}
                if data["started_at"]:  # only a started prediction ran (and is billed)
                    data["metrics"]["predict_time"] = round(end - started, 3)
            self._save(pred)

    def _output_url(self, prediction_id: str) -> str:
        return f"{self.base_url}/files/{prediction_id}/output.mp4"

    def _deliver(self, pred: _Prediction, event: str) -> None:
        if (not pred.webhook or event not in pred.events or not self.behaviour.deliver_webhooks
                or not pred.deliver or self._closed.is_set()):
            return
        now = time.monotonic()
        if event in ("logs", "output"):  # throttled: a skipped event's news rides on the next one
            if now - pred.last_sent.get(event, -THROTTLE_SECONDS) < THROTTLE_SECONDS:
                return
            pred.last_sent[event] = now
        body = json.dumps(pred.data)
        headers = self.signed_headers(body)
        attempts = self.behaviour.webhook_retries if event == "completed" else 1
        for attempt in range(attempts):
            try:
                status = httpx.post(pred.webhook, content=body, headers=headers, timeout=10).status_code
            except httpx.HTTPError:
                status = None
            self.deliveries.append({"url": pred.webhook, "headers": headers, "body": body,
                                    "event": event, "status": status, "sent_at": now})
            if status is not None and status < 300:
                return
            time.sleep(0.2 * (attempt + 1))


def published_model(m: catalog.ReplicateModel) -> dict:
    """A model as GET /v1/models/{owner}/{name} answers it, its schema built from the catalog's inputs."""
    owner, name = m.name.split("/")
    components: dict[str, dict] = {}
    properties: dict[str, dict] = {}
    for order, (input_name, spec) in enumerate(m.inputs.items()):
        prop: dict[str, Any] = {"title": input_name.replace("_", " ").title(), "x-order": order}
        if spec.choices is not None:  # Cog: a `choices` input is an Enum, referenced through allOf
            components[input_name] = {"title": input_name, "description": "An enumeration.",
                                      "enum": list(spec.choices),
                                      "type": "integer" if spec.type == "integer" else "string"}
            prop |= {"allOf": [{"$ref": f"#/components/schemas/{input_name}"}], "default": spec.choices[0]}
        else:
            prop["type"] = "integer" if spec.type == "integer" else "string"
            if spec.type == "uri":
                prop["format"] = "uri"
        prop |= {k: v for k, v in (("minimum", spec.minimum), ("maximum", spec.maximum)) if v is not None}
        properties[input_name] = prop
    schema = {"openapi": "3.0.2", "info": {"title": "Cog", "version": "0.1.0"}, "paths": {},
              "components": {"schemas": {
                  "Input": {"type": "object", "title": "Input", "properties": properties,
                            "required": [k for k, spec in m.inputs.items() if spec.required]},
                  "Output": {"type": "string", "title": "Output", "format": "uri"}, **components}}}
    version = hashlib.sha256(m.name.encode()).hexdigest()
    return {"url": f"https://replicate.com/{m.name}", "owner": owner, "name": name, "description": m.title,
            "visibility": "public", "github_url": None, "paper_url": None, "license_url": None, "run_count": 0,
            "cover_image_url": None, "default_example": None,
            "latest_version": {"id": version, "created_at": "2025-02-26T00:00:00.000000Z", "cog_version": "0.14.0",
                               "openapi_schema": schema}}


def check_against_schema(schema: dict, data: dict) -> list[dict]:
    """Replicate's validation of a create's input against a published Input schema:
    [{"type", "field", "description"}] like the `invalid_fields` of its 422. Undrifted, the schema is
    the catalog's, so this refuses exactly what the catalog says the model refuses."""
    spec = schema["components"]["schemas"]["Input"]
    errors = [{"type": "required", "field": "input", "description": f"{name} is required"}
              for name in spec.get("required", []) if name not in data]
    for name, prop in spec.get("properties", {}).items():
        if name not in data:
            continue
        resolved = dict(prop)
        for ref in prop.get("allOf", []):
            resolved |= schema["components"]["schemas"].get(ref.get("$ref", "").rsplit("/", 1)[-1], {})
        value, where, kind = data[name], f"input.{name}", resolved.get("type")
        if kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
            errors.append({"type": "invalid_type", "field": where, "description": "Invalid type. Expected: integer"})
        elif kind == "string" and not isinstance(value, str):
            errors.append({"type": "invalid_type", "field": where, "description": "Invalid type. Expected: string"})
        elif "enum" in resolved and value not in resolved["enum"]:
            allowed = ", ".join(f'"{c}"' for c in resolved["enum"])
            errors.append({"type": "enum", "field": where,
                           "description": f"{name} must be one of the following: {allowed}"})
        elif "minimum" in resolved and value < resolved["minimum"]:
            errors.append({"type": "number_gte", "field": where,
                           "description": f"Must be greater than or equal to {resolved['minimum']}"})
        elif "maximum" in resolved and value > resolved["maximum"]:
            errors.append({"type": "number_lte", "field": where,
                           "description": f"Must be less than or equal to {resolved['maximum']}"})
    return errors


def _problem(status: int, detail: str | None = None, *, title: str | None = None,
             retry_after: int = 1) -> JSONResponse:
    """Replicate's error body (RFC 7807 problem details: title, detail, status)."""
    detail = detail or {429: f"Request was throttled. Expected available in {retry_after} second.",
                        503: "Service unavailable."}.get(status, "Emulated error")
    title = title or {429: "Request was throttled.", 503: "Service unavailable"}.get(status, detail)
    headers = {"Retry-After": str(retry_after)} if status == 429 else None
    return JSONResponse({"title": title, "detail": detail, "status": status}, status_code=status, headers=headers)


def _invalid(fields: list[dict]) -> JSONResponse:
    """Replicate's 422 for an input the model's schema refuses."""
    detail = "".join(f"- {f['field']}: {f['description']}\n" for f in fields)
    return JSONResponse({"title": "Input validation failed", "detail": detail, "status": 422,
                         "invalid_fields": fields}, status_code=422)


def _duration_seconds(text: str) -> float | None:
    """A Go-style duration as Replicate's Cancel-After takes it ("90s", "45m", "1h30m"); None if not one."""
    import re

    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    unit = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(float(n) * unit[u] for n, u in parts) or None


def _ratio_of(image: bytes) -> str | None:
    """9:16 for a portrait image, 16:9 for the others (as the Wan models shape a video after it)."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(image)) as img:
            width, height = img.size
    except Exception:  # noqa: BLE001 - not an image: the output keeps the default shape
        return None
    return "9:16" if height > width else "16:9"


def _parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _b64(raw: bytes) -> str:
    import base64

    return base64.b64encode(raw).decode()


def main(argv: list[str] | None = None) -> None:
    """Run the emulator on its own (`python -m wan_local.replicate_emulator`), e.g. for benchmarks."""
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="Replicate API emulator")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True, help="whsec_… webhook signing secret")
    parser.add_argument("--run-seconds", type=float, default=5.0, help="how long each run takes")
    parser.add_argument("--hold", action="store_true", help="answer at once but never advance predictions")
    args = parser.parse_args(argv)
    emulator = ReplicateEmulator(args.secret, base_url=f"http://127.0.0.1:{args.port}")
    emulator.behaviour.run_seconds, emulator.behaviour.auto_run = args.run_seconds, not args.hold
    emulator.behaviour.deliver_webhooks = not args.hold
    uvicorn.run(emulator.app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
