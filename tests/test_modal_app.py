"""The Modal app, checked offline (no Modal account): the contract's web functions and their routes."""

from __future__ import annotations

import warnings

import modal
import pytest

import modal_app

# Each web function and what it serves (contract section 2): the card's four answer at their root.
CONTRACT = {
    "text_to_video": {"/": {"post"}},
    "image_to_video": {"/": {"post"}},
    "generation_status": {"/": {"get"}},
    "replicate_webhook": {"/": {"post"}},
    "account": {"/credits": {"get"}, "/generations": {"get"}, "/pricing": {"get"}},
}


def web_endpoints() -> list[str]:
    with warnings.catch_warnings():  # the only public way to list them offline, deprecated in 1.6
        warnings.simplefilter("ignore")
        return list(modal_app.app.registered_web_endpoints)


def test_the_app_has_exactly_the_contracts_web_functions():
    assert sorted(web_endpoints()) == sorted(CONTRACT)
    assert len(web_endpoints()) <= 6  # the contract's ceiling (Starter plan: 8 per workspace)


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_each_web_function_serves_its_routes_with_the_contract_error_shape(name):
    function = getattr(modal_app, name)
    assert isinstance(function, modal.Function)
    app = function.local()  # the raw function: builds the FastAPI app, no secrets needed yet
    paths = {path: set(ops) for path, ops in app.openapi()["paths"].items()}
    assert paths == CONTRACT[name]
    handlers = app.exception_handlers
    from fastapi.exceptions import RequestValidationError

    from shared.errors import ApiError

    assert ApiError in handlers and RequestValidationError in handlers


def test_slow_work_is_a_plain_function_not_an_endpoint():
    assert isinstance(modal_app.copy_video, modal.Function)
    assert "copy_video" not in web_endpoints()
