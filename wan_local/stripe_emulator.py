"""A Stripe emulator: the two API calls the service makes, a checkout page, and signed webhooks.

stripe-mock cannot stand in (its sessions are fixed fixtures, always `unpaid`; it keeps no state and
sends no webhooks), so the local stack plays Stripe itself:

- POST /v1/checkout/sessions (form-encoded, as stripe-python sends it, with Idempotency-Key replay and
  Stripe's `idempotency_error` for a reused key) and GET /v1/checkout/sessions/{id}; Stripe's JSON
  objects and its error body {"error": {"type", "code", "message", "param"}}.
- GET /v1/account and GET /v1/webhook_endpoints (what `wan-api doctor` asks): the account, and one
  endpoint for our webhook URL with every event the service needs, rendered in the pinned API version
  (shapes: docs.stripe.com/api/accounts/object, /api/webhook_endpoints/object and /list; stripe-python
  16's Account and WebhookEndpoint). Tests make them drift through `webhook_endpoints`.
- GET /checkout/{id}: the checkout_url, a small page with Pay, Pay by bank transfer (a delayed method:
  completes `unpaid`, then succeeds) and Decline buttons. Pay completes the session, sends the signed
  `checkout.session.completed` event to the webhook and sends the browser to the success URL.
- POST /emulator/sessions/{id}/{action}: what a person (or a test) can make Stripe do by hand: pay,
  pay_later, async_succeed, async_fail, expire, refund (?amount=), fail_refund, dispute, dispute_won,
  dispute_lost.
  `python -m wan_local.stripe_emulator refund <url> <session_id> [--amount N]` calls it from a shell.

Events are signed with stripe-python's own WebhookSignature.generate_signature_header and delivered
with retries on non-2xx, as Stripe does (its schedule is hours; here a few quick attempts).
"""

from __future__ import annotations

import html
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from stripe import WebhookSignature

from shared.purchases import STRIPE_API_VERSION

API_VERSION = STRIPE_API_VERSION  # the version the service pins: its events and answers are of that version


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def parse_form(body: bytes) -> dict:
    """Stripe's form encoding (`line_items[0][price_data][currency]=usd`) back into nested values."""
    root: dict = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = root
        for part, nxt in zip(parts, parts[1:] + [None]):
            if nxt is None:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _lists(root)


def _lists(node: Any) -> Any:
    """Dicts keyed 0, 1, 2… become lists."""
    if isinstance(node, dict):
        node = {k: _lists(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


def stripe_error(status: int, message: str, *, type: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None) -> JSONResponse:
    error = {"type": type, "message": message}
    if code:
        error |= {"code": code, "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"}
    if param:
        error["param"] = param
    return JSONResponse({"error": error}, status_code=status, headers={"Request-Id": _id("req")})


@dataclass
class Behaviour:
    deliver_webhooks: bool = True      # False: events are kept in `events` but not sent
    webhook_attempts: int = 3          # attempts per event while the webhook answers non-2xx
    api_status: int | None = None      # answer every API call with this error status (e.g. 500)


@dataclass
class _Session:
    data: dict
    charge: dict | None = None
    disputes: list[dict] = field(default_factory=list)


class StripeEmulator:
    def __init__(self, webhook_secret: str | None = None, webhook_url: str | None = None,
                 base_url: str = "http://127.0.0.1"):
        self.webhook_secret = webhook_secret or "whsec_" + secrets.token_hex(16)
        self.webhook_url = webhook_url
        self.base_url = base_url
        self.behaviour = Behaviour()
        self.sessions: dict[str, _Session] = {}
        self.events: list[dict] = []        # every event made, in order
        self.deliveries: list[dict] = []    # every delivery attempt: {"event_id", "type", "status"}
        self.requests: list[dict] = []      # every API call: {"method", "path", "params", "headers"}
        self._idempotent: dict[str, tuple[dict, dict]] = {}
        self.account = {"id": _id("acct"), "object": "account", "business_profile": {"name": "Local emulator"},
                        "charges_enabled": True, "country": "US", "default_currency": "usd",
                        "details_submitted": True, "email": None, "payouts_enabled": True, "type": "standard"}
        # The endpoints registered at this "Stripe" (Dashboard -> Webhooks); None: our URL, as the
        # README's deploy steps register it. Tests change the list to show each doctor failure.
        self.webhook_endpoints: list[dict] | None = None
        self._lock = threading.Lock()
        self.app = self._build_app()

    # --- what Stripe does to a session -----------------------------------------------------------
    def pay(self, session_id: str, *, later: bool = False, wait: bool = True) -> dict:
        """The customer pays (a card: paid at once; `later`: a delayed method, completed unpaid)."""
        s = self.sessions[session_id]
        data = s.data
        if data["status"] != "open":
            return data
        data.update(status="complete", payment_status="unpaid" if later else "paid",
                    payment_intent=_id("pi"))
        if not later:
            s.charge = self._charge(data)
        self.emit("checkout.session.completed", dict(data), wait=wait)
        return data

    def async_result(self, session_id: str, succeeded: bool, *, wait: bool = True) -> dict:
        s = self.sessions[session_id]
        if succeeded:
            s.data["payment_status"] = "paid"
            s.charge = self._charge(s.data)
        kind = "succeeded" if succeeded else "failed"
        self.emit(f"checkout.session.async_payment_{kind}", dict(s.data), wait=wait)
        return s.data

    def expire(self, session_id: str, *, wait: bool = True) -> dict:
        data = self.sessions[session_id].data
        if data["status"] == "open":
            data.update(status="expired", url=None)
            self.emit("checkout.session.expired", dict(data), wait=wait)
        return data

    def refund(self, session_id: str, amount: int | None = None, *, wait: bool = True) -> dict:
        """Refund part (amount) or the rest of the payment: a refund of its own id, and charge.refunded
        carrying the running amount_refunded and every refund so far."""
        charge = self._paid_charge(session_id)
        amount = amount or charge["amount"] - charge["amount_refunded"]
        amount = min(amount, charge["amount"] - charge["amount_refunded"])
        if amount <= 0:
            return charge
        refund = {"id": _id("re"), "object": "refund", "amount": amount, "charge": charge["id"],
                  "currency": charge["currency"], "payment_intent": charge["payment_intent"],
                  "status": "succeeded", "created": int(time.time())}
        charge["refunds"]["data"].insert(0, refund)
        charge["refunds"]["total_count"] += 1
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        self.emit("charge.refunded", json.loads(json.dumps(charge)), wait=wait)
        return charge

    def dispute(self, session_id: str, *, wait: bool = True) -> dict:
        charge = self._paid_charge(session_id)
        dispute = {"id": _id("dp"), "object": "dispute", "amount": charge["amount"] - charge["amount_refunded"],
                   "charge": charge["id"], "currency": charge["currency"],
                   "payment_intent": charge["payment_intent"], "reason": "fraudulent",
                   "status": "needs_response", "created": int(time.time())}
        self.sessions[session_id].disputes.append(dispute)
        charge["disputed"] = True
        self.emit("charge.dispute.created", dict(dispute), wait=wait)
        return dispute

    def close_dispute(self, session_id: str, status: str, *, wait: bool = True,
                      kind: str = "charge.dispute.closed") -> dict:
        """The latest dispute moves to `status` (won, lost, prevented, warning_closed; with
        kind="charge.dispute.updated" an appeal state or an under_review)."""
        dispute = self.sessions[session_id].disputes[-1]
        dispute["status"] = status
        self.emit(kind, dict(dispute), wait=wait)
        return dispute

    def fail_refund(self, session_id: str, *, wait: bool = True) -> dict:
        """The latest refund fails after it was made (the customer's bank returns it): Stripe puts the
        amount back on the charge and sends charge.refund.updated, then refund.failed."""
        charge = self._paid_charge(session_id)
        refund = next((r for r in charge["refunds"]["data"] if r["status"] != "failed"), None)
        if refund is None:
            raise ValueError("no refund to fail")
        refund.update(status="failed", failure_reason="expired_or_canceled_card")
        charge["amount_refunded"] -= refund["amount"]
        charge["refunded"] = False
        self.emit("charge.refund.updated", dict(refund), wait=wait)
        self.emit("refund.failed", dict(refund), wait=wait)
        return refund

    def _charge(self, data: dict) -> dict:
        charge_id = _id("ch")
        return {"id": charge_id, "object": "charge", "amount": data["amount_total"], "amount_captured": data["amount_total"],
                "amount_refunded": 0, "currency": data["currency"], "payment_intent": data["payment_intent"],
                "paid": True, "refunded": False, "disputed": False, "status": "succeeded",
                "refunds": {"object": "list", "data": [], "has_more": False, "total_count": 0,
                            "url": f"/v1/charges/{charge_id}/refunds"}}

    def _paid_charge(self, session_id: str) -> dict:
        charge = self.sessions[session_id].charge
        if charge is None:
            raise ValueError(f"session {session_id} has not been paid")
        return charge

    # --- events ------------------------------------------------------------------------------------
    def event(self, kind: str, obj: dict) -> dict:
        return {"id": _id("evt"), "object": "event", "api_version": API_VERSION, "created": int(time.time()),
                "data": {"object": obj}, "livemode": False, "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None}, "type": kind}

    def emit(self, kind: str, obj: dict, *, wait: bool = True) -> dict:
        """Make an event and deliver it (now, or in the background as Stripe would)."""
        event = self.event(kind, obj)
        self.events.append(event)
        if wait:
            self.deliver(event)
        else:
            threading.Thread(target=self.deliver, args=(event,), daemon=True).start()
        return event

    def signed(self, payload: str, *, timestamp: int | None = None, secret: str | None = None) -> dict:
        header = WebhookSignature.generate_signature_header(payload, secret or self.webhook_secret, timestamp)
        return {"Stripe-Signature": header, "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}

    def deliver(self, event: dict) -> int | None:
        """POST the event to the webhook, signed afresh per attempt, retrying while it is not 2xx."""
        if not self.webhook_url or not self.behaviour.deliver_webhooks:
            return None
        payload = json.dumps(event, indent=2)  # Stripe sends pretty JSON; the signature covers it as is
        status = None
        for attempt in range(self.behaviour.webhook_attempts):
            try:
                status = httpx.post(self.webhook_url, content=payload, headers=self.signed(payload), timeout=30).status_code
            except httpx.HTTPError:
                status = None
            self.deliveries.append({"event_id": event["id"], "type": event["type"], "status": status})
            if status is not None and 200 <= status < 300:
                break
            time.sleep(0.2 * (attempt + 1))
        return status

    # --- the API ---------------------------------------------------------------------------------
    def _create_session(self, params: dict) -> tuple[int, dict] | JSONResponse:
        for name in ("mode", "success_url"):
            if not params.get(name):
                return stripe_error(400, f"Missing required param: {name}.", code="parameter_missing", param=name)
        items = params.get("line_items") or []
        try:
            total = sum(int(i["price_data"]["unit_amount"]) * int(i.get("quantity", 1)) for i in items)
            currency = {i["price_data"]["currency"].lower() for i in items}.pop()
        except (KeyError, TypeError, ValueError):
            return stripe_error(400, "Each line item needs price_data with currency and unit_amount.",
                                code="parameter_missing", param="line_items")
        session_id = "cs_test_" + secrets.token_urlsafe(40).replace("-", "a").replace("_", "b")
        now = int(time.time())
        data = {
            "id": session_id, "object": "checkout.session", "amount_subtotal": total, "amount_total": total,
            "cancel_url": params.get("cancel_url"), "client_reference_id": params.get("client_reference_id"),
            "created": now, "currency": currency, "customer": None, "customer_details": None,
            "expires_at": now + 24 * 3600, "livemode": False, "metadata": params.get("metadata") or {},
            "mode": params["mode"], "payment_intent": None, "payment_method_types": ["card"],
            "payment_status": "unpaid", "status": "open", "success_url": params["success_url"],
            "url": f"{self.base_url}/checkout/{session_id}",
        }
        self.sessions[session_id] = _Session(data=data)
        return 200, data

    def endpoint(self, url: str, *, events: list[str] | None = None, api_version: str | None = None,
                 status: str = "enabled") -> dict:
        """A webhook endpoint object as Stripe answers it (never with its secret, which only the
        create answer carries)."""
        from shared.purchases import STRIPE_API_VERSION, WEBHOOK_EVENTS

        return {"id": _id("we"), "object": "webhook_endpoint", "api_version": api_version or STRIPE_API_VERSION,
                "application": None, "created": int(time.time()), "description": None,
                "enabled_events": list(WEBHOOK_EVENTS) if events is None else events, "livemode": False,
                "metadata": {}, "status": status, "url": url}

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="Stripe emulator", openapi_url=None)

        @app.middleware("http")
        async def _auth(request: Request, call_next):
            if request.url.path.startswith("/v1/"):
                auth = request.headers.get("authorization", "")
                if not auth.startswith("Bearer sk_"):
                    return stripe_error(401, "You did not provide an API key. You need to provide your API key "
                                             "in the Authorization header, using Bearer auth.")
                if self.behaviour.api_status:
                    return stripe_error(self.behaviour.api_status, "An unknown error occurred.", type="api_error")
            response = await call_next(request)
            response.headers["Stripe-Version"] = API_VERSION  # as Stripe answers with the version it used
            return response

        @app.get("/v1/account")
        def account():
            return self.account

        @app.get("/v1/webhook_endpoints")
        def webhook_endpoints():
            data = self.webhook_endpoints if self.webhook_endpoints is not None else (
                [self.endpoint(self.webhook_url)] if self.webhook_url else [])
            return {"object": "list", "url": "/v1/webhook_endpoints", "has_more": False, "data": data}

        @app.post("/v1/checkout/sessions")
        async def create(request: Request):
            params = parse_form(await request.body())
            key = request.headers.get("idempotency-key")
            self.requests.append({"method": "POST", "path": "/v1/checkout/sessions", "params": params,
                                  "headers": dict(request.headers)})
            with self._lock:
                if key and key in self._idempotent:
                    first_params, answer = self._idempotent[key]
                    if first_params != params:
                        return stripe_error(400, "Keys for idempotent requests can only be used with the same "
                                                 f"parameters they were first used with. Try using a key other "
                                                 f"than '{key}' if you meant to execute a different request.",
                                            type="idempotency_error")
                    return JSONResponse(answer, headers={"Idempotent-Replayed": "true"})
                made = self._create_session(params)
                if isinstance(made, JSONResponse):
                    return made
                if key:
                    self._idempotent[key] = (params, made[1])
            return JSONResponse(made[1], status_code=made[0], headers={"Request-Id": _id("req")})

        @app.get("/v1/checkout/sessions/{session_id}")
        def retrieve(session_id: str, request: Request):
            self.requests.append({"method": "GET", "path": f"/v1/checkout/sessions/{session_id}", "params": {},
                                  "headers": dict(request.headers)})
            s = self.sessions.get(session_id)
            if s is None:
                return stripe_error(404, f"No such checkout.session: '{session_id}'", code="resource_missing",
                                    param="session")
            return s.data

        @app.get("/checkout/{session_id}", response_class=HTMLResponse)
        def page(session_id: str):
            s = self.sessions.get(session_id)
            if s is None:
                return HTMLResponse("<h1>No such checkout session</h1>", status_code=404)
            return HTMLResponse(_page(s.data))

        @app.post("/checkout/{session_id}/{choice}")
        def choose(session_id: str, choice: str):
            s = self.sessions.get(session_id)
            if s is None or choice not in ("pay", "pay_later", "decline"):
                return HTMLResponse("<h1>No such checkout session</h1>", status_code=404)
            if choice == "decline" or s.data["status"] != "open":
                return RedirectResponse(s.data["cancel_url"] or f"/checkout/{session_id}", status_code=303)
            self.pay(session_id, later=choice == "pay_later", wait=False)  # the webhook races the browser
            return RedirectResponse(s.data["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id), status_code=303)

        @app.post("/emulator/sessions/{session_id}/{action}")
        def act(session_id: str, action: str, amount: int | None = None):
            if session_id not in self.sessions:
                return stripe_error(404, f"No such checkout.session: '{session_id}'", code="resource_missing")
            actions = {
                "pay": lambda: self.pay(session_id), "pay_later": lambda: self.pay(session_id, later=True),
                "async_succeed": lambda: self.async_result(session_id, True),
                "async_fail": lambda: self.async_result(session_id, False),
                "expire": lambda: self.expire(session_id), "refund": lambda: self.refund(session_id, amount),
                "dispute": lambda: self.dispute(session_id),
                "dispute_won": lambda: self.close_dispute(session_id, "won"),
                "dispute_lost": lambda: self.close_dispute(session_id, "lost"),
                "fail_refund": lambda: self.fail_refund(session_id),
            }
            if action not in actions:
                return stripe_error(400, f"Unknown action {action}; one of {', '.join(actions)}.")
            try:
                obj = actions[action]()
            except (ValueError, IndexError) as exc:
                return stripe_error(400, f"Cannot {action}: {exc or 'no dispute'}.")
            return {"object": obj, "event": self.events[-1] if self.events else None}

        return app


def _page(data: dict) -> str:
    sid = html.escape(data["id"])
    price = f"{data['amount_total'] / 100:.2f} {data['currency'].upper()}"
    pack = html.escape(str((data.get("metadata") or {}).get("pack_id", "")))
    if data["status"] != "open":
        return f"<h1>This checkout session is {html.escape(data['status'])}.</h1>"
    return f"""<!doctype html><html><head><title>Stripe emulator checkout</title>
<style>body{{font-family:sans-serif;max-width:28rem;margin:3rem auto}}button{{margin:.3rem;padding:.6rem 1rem}}</style>
</head><body><h1>Pay {price}</h1><p>Pack <b>{pack}</b> · session <code>{sid}</code></p>
<form method="post" action="/checkout/{sid}/pay"><button>Pay</button></form>
<form method="post" action="/checkout/{sid}/pay_later"><button>Pay by bank transfer (settles later)</button></form>
<form method="post" action="/checkout/{sid}/decline"><button>Decline</button></form>
<p><small>Local Stripe emulator: Pay sends checkout.session.completed to the webhook, signed.</small></p>
</body></html>"""


def main(argv: list[str] | None = None) -> int:
    """`python -m wan_local.stripe_emulator ACTION URL SESSION_ID [--amount N]`: make the running
    emulator (its URL is printed by `wan-api dev`) refund, dispute, expire… a session."""
    import argparse

    parser = argparse.ArgumentParser(description="Drive the local Stripe emulator by hand")
    parser.add_argument("action", choices=["pay", "pay_later", "async_succeed", "async_fail", "expire", "refund",
                                           "dispute", "dispute_won", "dispute_lost", "fail_refund"])
    parser.add_argument("url", help="the emulator's base URL, e.g. http://127.0.0.1:54321")
    parser.add_argument("session_id")
    parser.add_argument("--amount", type=int, help="refund: the amount in minor units (default: the rest)")
    args = parser.parse_args(argv)
    r = httpx.post(f"{args.url.rstrip('/')}/emulator/sessions/{args.session_id}/{args.action}",
                   params={"amount": args.amount} if args.amount else None, timeout=60)
    print(json.dumps(r.json(), indent=2))
    return 0 if r.status_code < 400 else 1


if __name__ == "__main__":
    raise SystemExit(main())
