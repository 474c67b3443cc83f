"""The Modal app, checked offline (no Modal account): the contract's web functions, their routes,
the background copy and the cron, read through `Function.info()`."""

from __future__ import annotations

import modal
import pytest
from fastapi.exceptions import RequestValidationError

import modal_app
from shared.errors import ApiError

# Each web function and what it serves (contract section 2): the card's four answer at their root.
CONTRACT = {
    "text_to_video": {"/": {"post"}},
    "image_to_video": {"/": {"post"}},
    "generation_status": {"/": {"get"}, "/stream": {"get"}},
    "replicate_webhook": {"/": {"post"}},
    "account": {"/credits": {"get"}, "/generations": {"get"}, "/cancel": {"post"}, "/retry": {"post"},
                "/pricing": {"get"}, "/checkout": {"post"}, "/checkout/status": {"get"},
                "/health": {"get"},
                "/generations/{generation_id}": {"delete"}, "/generations/delete": {"post"}, "/metrics": {"get"},
                "/api-keys": {"post", "get"}, "/api-keys/{key_id}": {"delete"},
                # the operator's console's JSON endpoints (CONTRACT §5; its page is not in the schema)
                "/admin/stats": {"get"}, "/admin/analytics": {"get"}, "/admin/users": {"get"},
                "/admin/users/{user_id}": {"get"}, "/admin/users/{user_id}/credits": {"post"},
                "/admin/users/{user_id}/block": {"post"}, "/admin/users/{user_id}/unblock": {"post"},
                "/admin/generations": {"get"}, "/admin/generations/{generation_id}/refund": {"post"},
                "/admin/generations/{generation_id}/settle": {"post"}, "/admin/audit": {"get"},
                "/admin/audit.csv": {"get"},
                # the library (issue 25): its user routes and the public share pages
                "/generations/{generation_id}/favorite": {"put", "delete"},
                "/generations/{generation_id}/share": {"post", "delete"}, "/generations/download": {"post"},
                "/s/{share_id}": {"get"}, "/s/{share_id}.json": {"get"},
                "/webhooks/secret": {"get"}, "/webhooks/secret/rotate": {"post"},
                "/generations/{generation_id}/deliveries": {"get"},
                "/generations/{generation_id}/deliveries/{event_id}/retry": {"post"},
                "/generations/{generation_id}/extend": {"post"}},
    "stripe_webhook": {"/": {"post"}},
}


def functions() -> dict[str, modal.Function]:
    return {name: obj for name, obj in vars(modal_app).items() if isinstance(obj, modal.Function)}


def web_functions() -> set[str]:
    return {name for name, f in functions().items() if f.info().web_info is not None}


def test_the_app_has_exactly_the_contracts_web_functions():
    assert web_functions() == set(CONTRACT)
    assert len(web_functions()) <= 6  # the contract's ceiling (Starter plan: 8 per workspace)


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_each_web_function_serves_its_routes_with_the_contract_error_shape(name):
    function = functions()[name]
    assert function.info().concurrency_info.max_inputs > 1
    app = function.local()  # the raw function: builds the FastAPI app, no secrets needed yet
    paths = {path: set(ops) for path, ops in app.openapi()["paths"].items()}
    assert paths == CONTRACT[name]
    assert ApiError in app.exception_handlers and RequestValidationError in app.exception_handlers


def test_stripe_keys_are_optional_so_the_api_deploys_before_it_sells():
    """Purchases answer 503 until STRIPE_SECRET_KEY is set; the secret does not require the Stripe keys."""
    assert not any(key.startswith(("STRIPE_", "CHECKOUT_")) for key in modal_app.REQUIRED_KEYS)
    assert "SUPABASE_URL" in modal_app.REQUIRED_KEYS


def test_the_sweep_is_a_cron_every_five_minutes():
    info = functions()["sweep_stuck_generations"].info()
    assert info.web_info is None
    assert info.schedule == "Cron('*/5 * * * *', UTC)"


def test_slow_work_is_a_plain_function_not_an_endpoint():
    info = functions()["copy_video"].info()
    assert info.web_info is None and info.schedule is None
    assert info.max_retries == 2
