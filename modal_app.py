"""The Modal app: image, secret, one web function per endpoint, the cron, and the background copy.

Wiring only: the handlers live in functions/ and shared/ with no Modal import. Each web function is
an @modal.asgi_app built by the one app factory (shared/app.py), so every error, validation errors
included, has the contract's shape; @modal.fastapi_endpoint cannot do that. The app keeps to six
web endpoints (the card's four, `account`, `stripe_webhook`; the Starter plan allows eight).
"""

from __future__ import annotations

from pathlib import Path

import modal

APP_NAME = "wan-video-api"
SECRET_NAME = "wan-secrets"

app = modal.App(APP_NAME)

PROJECT_DIR = Path(__file__).resolve().parent
UV_VERSION = "0.13.9"  # the uv that wrote uv.lock (scripts/lock)

image = (
    modal.Image.debian_slim(python_version="3.11")
    # Exactly the versions of uv.lock that CI tested (`uv sync --frozen`: the runtime dependencies,
    # not the local/dev extras), never whatever is newest at build time. scripts/lock relocks.
    .uv_sync(str(PROJECT_DIR), frozen=True, uv_version=UV_VERSION)
    .add_local_python_source("shared", "functions")
    # The operator's console page, served by `account` at /admin/ (functions/admin.py reads it here).
    .add_local_dir(str(Path(__file__).with_name("wan_local") / "web"), "/root/wan_local/web")
)

# required_keys makes a missing key fail at deploy with a clear message instead of a 500 later.
# The Stripe keys (STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, CHECKOUT_SUCCESS_URL, CHECKOUT_CANCEL_URL)
# are optional: without them POST /checkout answers 503 and the Stripe webhook refuses every delivery,
# so the API can be deployed before it sells credits.
REQUIRED_KEYS = ["SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "REPLICATE_API_TOKEN", "REPLICATE_WEBHOOK_SECRET",
                 "WEBHOOK_URL"]
secrets = [modal.Secret.from_name(SECRET_NAME, required_keys=REQUIRED_KEYS)]

web = dict(image=image, secrets=secrets, timeout=150)
CONCURRENT_REQUESTS = 32


def _web_app(router):
    """The FastAPI app of one web function; video copies go to the spawned `copy_video`."""
    from shared.app import create_app
    from shared.services import use_delivery_starter, use_video_copy_starter

    use_video_copy_starter(lambda generation_id: copy_video.spawn(generation_id))
    use_delivery_starter(lambda generation_id: send_webhooks.spawn(generation_id))
    return create_app(router)


@app.function(**web)
@modal.concurrent(max_inputs=CONCURRENT_REQUESTS)
@modal.asgi_app()
def text_to_video():
    from functions import text_to_video as endpoint

    return _web_app(endpoint.router("/"))


@app.function(**web)
@modal.concurrent(max_inputs=CONCURRENT_REQUESTS)
@modal.asgi_app()
def image_to_video():
    from functions import image_to_video as endpoint

    return _web_app(endpoint.router("/"))


@app.function(**web)
@modal.concurrent(max_inputs=CONCURRENT_REQUESTS)
@modal.asgi_app()
def generation_status():
    from functions import generation_status as endpoint

    return _web_app(endpoint.router("/"))


@app.function(**web)
@modal.concurrent(max_inputs=CONCURRENT_REQUESTS)
@modal.asgi_app()
def replicate_webhook():
    from functions import replicate_webhook as endpoint

    return _web_app(endpoint.router("/"))


@app.function(**web)
@modal.concurrent(max_inputs=CONCURRENT_REQUESTS)
@modal.asgi_app()
def account():
    from functions import account as endpoint

    return _web_app(endpoint.router())


@app.function(**web)
@modal.concurrent(max_inputs=CONCURRENT_REQUESTS)
@modal.asgi_app()
def stripe_webhook():
    """Stripe's events (the endpoint to register in Stripe's dashboard is this function's URL)."""
    from functions import stripe_webhook as endpoint

    return _web_app(endpoint.router("/"))


@app.function(image=image, secrets=secrets, timeout=600, retries=2)
def copy_video(generation_id: str) -> str:
    """Copy a succeeded generation's video from Replicate into Supabase Storage. A failed attempt
    raises, because Modal's `retries` only acts on a raise; after those, the sweep tries again."""
    from shared.services import get_services
    from shared.video_copy import copy_video as run

    outcome = run(get_services(), generation_id)
    if outcome == "failed":
        raise RuntimeError(f"video copy of {generation_id} failed (recorded); Modal retries it")
    return outcome


@app.function(image=image, secrets=secrets, timeout=300)
def send_webhooks(generation_id: str) -> dict:
    """Send one generation's due webhook deliveries (the outbox rows its state change wrote). Never
    raises for a receiver's failure: the schedule in SQL retries, and the sweep sends what is due."""
    from shared.deliveries import send_due
    from shared.services import get_services

    return dict(send_due(get_services(), generation_id=generation_id))


SWEEP_SCHEDULE = "*/5 * * * *"  # every 5 minutes; runs may overlap or repeat, and that is safe


@app.function(image=image, secrets=secrets, schedule=modal.Cron(SWEEP_SCHEDULE), timeout=240)
def sweep_stuck_generations() -> dict:
    """Settle generations whose webhooks never came, time out the stuck, refund the failed, retry
    video copies. Its counts are logged as one JSON line ({"event": "sweep", ...})."""
    from shared.logs import configure_logging
    from shared.services import get_services, use_delivery_starter, use_video_copy_starter
    from shared.sweep import sweep

    configure_logging()
    use_video_copy_starter(lambda generation_id: copy_video.spawn(generation_id))
    use_delivery_starter(lambda generation_id: send_webhooks.spawn(generation_id))
    return sweep(get_services())
