"""The typed OpenAPI document (issue 14): checked in and current, valid OpenAPI, every route's answers
and errors typed, enums that follow the catalog and the database, and the README walkthrough's real
answers (over HTTP, on the local stack) valid against the documented schema of their status."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import jsonschema
import pytest
from openapi_spec_validator import validate as validate_openapi
from PIL import Image

from shared import api_models, catalog, errors, packs
from wan_local import openapi
from tests.support import wait_for

ROOT = Path(__file__).resolve().parent.parent
CHECKED_IN = ROOT / openapi.PATH
USER_ROUTES = {("post", "/text-to-video"), ("post", "/image-to-video"), ("get", "/status"), ("get", "/credits"),
               ("get", "/generations"), ("post", "/cancel"), ("post", "/retry"), ("post", "/checkout"),
               ("get", "/checkout/status"), ("post", "/generations/delete"), ("delete", "/generations/{generation_id}"),
               ("post", "/api-keys"), ("get", "/api-keys"), ("delete", "/api-keys/{key_id}"),
               # the library (issue 25)
               ("put", "/generations/{generation_id}/favorite"), ("delete", "/generations/{generation_id}/favorite"),
               ("post", "/generations/{generation_id}/share"), ("delete", "/generations/{generation_id}/share"),
               ("post", "/generations/download"),
               # push (issue 23)
               ("get", "/status/stream"), ("get", "/webhooks/secret"), ("post", "/webhooks/secret/rotate"),
               ("get", "/generations/{generation_id}/deliveries"),
               ("post", "/generations/{generation_id}/deliveries/{event_id}/retry"),
               ("post", "/generations/{generation_id}/extend")}
STREAMS = {("get", "/status/stream")}  # text/event-stream
OPEN_ROUTES = {("get", "/pricing"), ("get", "/health"), ("post", "/webhooks/replicate"), ("post", "/webhooks/stripe"),
               ("get", "/s/{share_id}"), ("get", "/s/{share_id}.json")}
# Success answers that are not JSON: their media type (the body is documented as a string).
OWN_MEDIA = {("post", "/generations/download"): "application/zip", ("get", "/s/{share_id}"): "text/html",
             ("get", "/admin/audit.csv"): "text/csv"}
OPERATOR_ROUTES = {("get", "/metrics")}  # METRICS_TOKEN, its own security scheme
ADMIN_ROUTES = {(m.lower(), p) for m, p in __import__("tests.test_admin", fromlist=["ADMIN_ROUTES"]).ADMIN_ROUTES}
METRICS_TOKEN = "m3tr1cs-token"

# Every field the contract names for each answer (CONTRACT.md section 2): each must stay required.
CONTRACT_FIELDS = {
    "Accepted": {"generation_id", "status", "cost", "credits_remaining"},
    "Generation": {"generation_id", "kind", "model", "resolution", "prompt", "status", "terminal", "progress",
                   "video_url", "error", "cost", "refunded", "created_at", "updated_at", "completed_at",
                   "favorite", "share_url"},
    "Favorite": {"generation_id", "favorite"},  # contract section 4
    "ShareLink": {"share_id", "share_url"},
    "PublicShare": {"share_id", "kind", "model", "resolution", "prompt", "video_url", "created_at", "views"},
    "GenerationPage": {"items", "next_cursor"},
    "Credits": {"balance", "low_balance", "transactions"},
    "Transaction": {"id", "amount", "type", "generation_id", "description", "balance_after", "created_at"},
    "Pack": {"pack_id", "credits", "amount", "currency"},
    "Pricing": {"models", "packs"},
    "CheckoutSession": {"session_id", "checkout_url"},
    "CheckoutStatus": {"session_id", "status", "credits", "balance"},
    "DeleteResult": {"deleted", "errors"},
    "InsufficientCreditsError": {"detail", "code", "required", "balance"},
    "InvalidRequestError": {"detail", "code", "errors"},
}


def methods(path_item: dict) -> dict:
    """A path's operations, without its `x-` extensions (the Modal function serving it)."""
    return {k: v for k, v in path_item.items() if not k.startswith("x-")}


@pytest.fixture
def stack_settings() -> dict:
    return {"metrics_token": METRICS_TOKEN}


@pytest.fixture(scope="module")
def doc() -> dict:
    return json.loads(CHECKED_IN.read_text())


def test_the_checked_in_document_is_the_one_the_code_makes(doc):
    assert CHECKED_IN.read_text() == openapi.dumps(openapi.document()), (
        f"{openapi.PATH} is stale: regenerate it with `{openapi.REGENERATE}` and commit it")


def test_the_document_is_valid_openapi(doc):
    validate_openapi(doc)  # openapi-spec-validator (PyPI): raises on any schema error
    assert doc["openapi"].startswith("3.1")


def test_only_the_production_routes_are_documented(doc):
    documented = {(method, path) for path, ops in doc["paths"].items() for method in methods(ops)}
    assert documented == USER_ROUTES | OPEN_ROUTES | OPERATOR_ROUTES | ADMIN_ROUTES


def test_every_answer_and_error_is_typed(doc):
    schemas = doc["components"]["schemas"]
    assert not {"HTTPValidationError", "ValidationError"} & set(schemas), "FastAPI's own 422 leaked in"
    for path, ops in doc["paths"].items():
        for method, op in methods(ops).items():
            where = f"{method.upper()} {path}"
            assert op.get("description"), where
            for status, answer in op["responses"].items():
                if (method, path) in OPERATOR_ROUTES and status == "200":  # Prometheus text
                    assert answer["content"]["text/plain; version=0.0.4; charset=utf-8"]["schema"] == {"type": "string"}
                    continue
                if (method, path) in OWN_MEDIA and status == "200":  # a zip, an HTML page
                    assert answer["content"][OWN_MEDIA[(method, path)]]["schema"]["type"] == "string"
                    continue
                if (method, path) in STREAMS and status == "200":  # server-sent events
                    assert answer["content"]["text/event-stream"]["schema"] == {"type": "string"}
                    continue
                if status in ("204", "304"):  # no body by definition
                    assert "content" not in answer, (where, status)
                    continue
                schema = answer["content"]["application/json"]["schema"]
                refs = [s["$ref"] for s in schema.get("anyOf", [schema])]
                assert all(r.startswith("#/components/schemas/") for r in refs), (where, status, schema)
                if int(status) >= 400:  # each error model's code is one its status answers
                    for ref in refs:
                        code = schemas[ref.rsplit("/", 1)[1]]["properties"]["code"]["const"]
                        assert any(c.code == code and c.status == int(status) for c in api_models.ERROR_MODELS), code
                        assert code in answer["content"]["application/json"]["examples"], (where, code)
                    if int(status) in (429, 503):
                        assert "Retry-After" in answer["headers"], (where, status)
            assert "500" in op["responses"], where
            if (method, path) in USER_ROUTES | ADMIN_ROUTES:
                assert op["security"] == [{"bearerAuth": []}] and "401" in op["responses"], where
                codes = [s["$ref"] for s in op["responses"]["401"]["content"]["application/json"]["schema"]
                         .get("anyOf", [op["responses"]["401"]["content"]["application/json"]["schema"]])]
                assert codes == ["#/components/schemas/UnauthorizedError"], where
            elif (method, path) in OPERATOR_ROUTES:
                assert op["security"] == [{"metricsToken": []}] and "401" in op["responses"], where
            else:
                assert "security" not in op, where
    bearer = doc["components"]["securitySchemes"]["bearerAuth"]  # a Supabase JWT or an API key: no bearerFormat
    assert bearer == {"type": "http", "scheme": "bearer", "description": bearer["description"]}
    assert "access token" in bearer["description"] and "wan_live_" in bearer["description"]


def test_the_token_is_a_security_scheme_not_a_header_parameter(doc):
    for ops in doc["paths"].values():
        for op in methods(ops).values():
            assert all(p["name"].lower() != "authorization" for p in op.get("parameters", []))


def test_every_error_class_has_a_documented_model():
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)
    for cls in (errors.ApiError, *subclasses(errors.ApiError)):
        model = api_models.ERROR_MODELS[cls]
        assert model.model_json_schema()["properties"]["code"]["const"] == cls.code


def test_the_contracts_fields_are_all_required(doc):
    schemas = doc["components"]["schemas"]
    for name, fields in CONTRACT_FIELDS.items():
        missing = fields - set(schemas[name]["required"])
        assert not missing, f"{name} no longer requires {missing}"
        assert schemas[name]["additionalProperties"] is False, name


def test_enums_follow_the_catalog_and_the_packs(doc):
    schemas = doc["components"]["schemas"]
    assert set(schemas["ModelName"]["enum"]) == {v.model for v in catalog.VARIANTS}
    assert set(schemas["Resolution"]["enum"]) == set(catalog.RESOLUTIONS) == {v.resolution for v in catalog.VARIANTS}
    assert set(schemas["AspectRatio"]["enum"]) == {r for v in catalog.VARIANTS for r in v.aspect_ratios}
    assert schemas["PackId"]["enum"] == [p.pack_id for p in packs.PACKS]
    text = schemas["TextToVideoRequest"]["properties"]
    assert text["model"]["enum"] == catalog.models_of_kind("text-to-video")
    form = schemas["ImageToVideoForm"]["properties"]
    assert form["model"]["enum"] == catalog.models_of_kind("image-to-video")
    assert schemas["CheckoutRequest"]["properties"]["pack_id"]["enum"] == [p.pack_id for p in packs.PACKS]


def _check_values(db, table: str, column: str) -> set[str]:
    """The values the live schema's `check (column in (...))` constraint of `table` allows."""
    shape = re.compile(rf"^CHECK \(\({column} = ANY \(ARRAY\[(.*)\]\)\)\)$")
    found = [m.group(1) for (d,) in db.execute("select pg_get_constraintdef(oid) from pg_constraint where "
                                               "conrelid = %s::regclass and contype = 'c'", (table,)).fetchall()
             if (m := shape.match(d))]
    assert len(found) == 1, (table, column, found)
    return set(re.findall(r"'([^']+)'::text", found[0]))


def test_enums_of_stored_values_follow_the_database(doc, db):
    schemas = doc["components"]["schemas"]
    assert set(schemas["TransactionType"]["enum"]) == _check_values(db, "public.credit_transactions", "type")
    assert set(schemas["GenerationStatus"]["enum"]) == _check_values(db, "public.generations", "status")
    assert set(schemas["PurchaseStatus"]["enum"]) == _check_values(db, "public.purchases", "status")


# --- real answers against the documented schemas ----------------------------------------------------

def validate(doc: dict, method: str, path: str, response) -> dict:
    """The answer's status is documented for the route, and its body is valid against that status's
    schema (which forbids unknown fields and requires every documented one)."""
    op = doc["paths"][path][method]
    status = str(response.status_code)
    assert status in op["responses"], f"{method.upper()} {path} answered {status}, which is not documented"
    content = op["responses"][status]["content"]
    assert response.headers["content-type"] in content, (path, status, response.headers["content-type"])
    if "application/json" not in content:
        return response.text
    schema = content["application/json"]["schema"]
    body = response.json()
    jsonschema.Draft202012Validator({**schema, "components": doc["components"]},
                                    format_checker=jsonschema.FormatChecker()).validate(body)
    return body


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (40, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_readme_walkthrough_answers_as_documented(api, doc):
    """README "Try it" (and "Buying credits"), each answer checked against docs/openapi.json."""
    emulator, stripe, http = api.stack.emulator, api.stack.stripe, api.http
    emulator.behaviour.auto_run, emulator.behaviour.run_seconds = True, 0.5
    signup = http.post("/dev/signup", json={"email": "me@example.com"})
    assert signup.status_code == 201
    served = http.get("/openapi.json").json()  # the local /docs: the production routes and /dev/signup
    validate(served, "post", "/dev/signup", signup)
    assert {p: o for p, o in served["paths"].items() if p != "/dev/signup"} == doc["paths"]
    token = signup.json()["access_token"]
    auth = api.auth(token)

    first = validate(doc, "post", "/text-to-video", api.text_to_video(
        token, key="my-first-video", prompt="a red fox running through fresh snow"))
    gen_id = first["generation_id"]
    final = wait_for(lambda: (s := validate(doc, "get", "/status", api.status(token, gen_id)))["terminal"] and s)
    assert final["status"] == "succeeded" and final["video_url"]
    image = validate(doc, "post", "/image-to-video", api.image_to_video(token, png(240, 320)))
    validate(doc, "get", "/credits", http.get("/credits", headers=auth))
    page = validate(doc, "get", "/generations", http.get("/generations", params={"limit": 1}, headers=auth))
    assert page["next_cursor"]
    validate(doc, "get", "/generations", http.get("/generations", params={"before": page["next_cursor"]}, headers=auth))
    validate(doc, "get", "/pricing", http.get("/pricing"))
    canceled = validate(doc, "post", "/cancel", http.post("/cancel", json={"generation_id": image["generation_id"]},
                                                          headers=auth))
    assert canceled["status"] == "canceled"
    retried = validate(doc, "post", "/retry", http.post("/retry", json={"generation_id": image["generation_id"]},
                                                        headers=auth))
    assert retried["retry_of"] == image["generation_id"]
    validate(doc, "get", "/health", http.get("/health"))
    canceled_id = image["generation_id"]
    validate(doc, "delete", "/generations/{generation_id}", http.delete(f"/generations/{canceled_id}", headers=auth))
    refusals = validate(doc, "post", "/generations/delete", http.post("/generations/delete", headers=auth, json={
        "generation_ids": [canceled_id, retried["generation_id"]]}))["errors"]
    assert refusals[0]["code"] == "not_found"                                                    # deleted already
    validate(doc, "get", "/metrics", http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}))

    # Buying a pack.
    session = validate(doc, "post", "/checkout", http.post("/checkout", json={"pack_id": "credits-100"}, headers=auth))
    validate(doc, "get", "/checkout/status", http.get("/checkout/status", params={"session_id": session["session_id"]},
                                                      headers=auth))
    stripe.pay(session["session_id"])
    paid = validate(doc, "get", "/checkout/status", http.get(
        "/checkout/status", params={"session_id": session["session_id"]}, headers=auth))
    assert paid["status"] == "credited"

    # The errors, each in its documented shape.
    validate(doc, "get", "/credits", http.get("/credits"))                                       # 401
    validate(doc, "get", "/metrics", http.get("/metrics", headers=auth))                          # 401
    validate(doc, "delete", "/generations/{generation_id}", http.delete(f"/generations/{canceled_id}",
                                                                          headers=auth))        # 404
    validate(doc, "post", "/text-to-video", api.text_to_video(token, model="t2v-1.3B", resolution="720p"))  # 422
    validate(doc, "post", "/text-to-video", api.text_to_video(token, key="my-first-video"))      # 409 reused
    validate(doc, "post", "/cancel", http.post("/cancel", json={"generation_id": gen_id}, headers=auth))  # 409
    validate(doc, "get", "/status", api.status(token, "00000000-0000-4000-8000-000000000000"))   # 404
    validate(doc, "post", "/image-to-video", api.image_to_video(token, b"not an image at all"))  # 415
    validate(doc, "post", "/webhooks/replicate", http.post("/webhooks/replicate", json={}))      # 401 signature
    validate(doc, "post", "/webhooks/stripe", http.post("/webhooks/stripe", json={}))            # 401 signature
    validate(doc, "get", "/checkout/status", http.get("/checkout/status", params={"session_id": "cs_nope"},
                                                      headers=auth))                             # 404
    poor = api.token()
    for _ in range(5):  # 100 credits are five 720p videos; each finishes before the next (no 429)
        started = validate(doc, "post", "/text-to-video", api.text_to_video(poor, resolution="720p"))
        wait_for(lambda: api.status(poor, started["generation_id"]).json()["terminal"])
    broke = api.text_to_video(poor, resolution="720p")
    assert validate(doc, "post", "/text-to-video", broke)["code"] == "insufficient_credits"
    assert broke.json()["required"] == 20 and broke.json()["balance"] == 0


# Where each Modal web function that answers at its root is served locally (contract section 2).
ROOT_FUNCTIONS = {"text_to_video": "/text-to-video", "image_to_video": "/image-to-video",
                  "generation_status": "/status", "replicate_webhook": "/webhooks/replicate",
                  "stripe_webhook": "/webhooks/stripe"}


def _typed(op: dict) -> dict:
    """An operation's answers as {status: [model names]} (titles name the path, so they are left out)."""
    out = {}
    for status, answer in op["responses"].items():
        if "application/json" not in answer.get("content", {}):  # a text answer (GET /metrics), or none
            out[status] = answer.get("content")
            continue
        schema = answer["content"]["application/json"]["schema"]
        out[status] = [s["$ref"] for s in schema.get("anyOf", [schema])]
    return out


def test_the_document_covers_exactly_what_the_modal_web_functions_serve(doc):
    """Each deployed function's own /openapi.json (and so its /docs) has the same typed answers as
    the checked-in document, and together they are all of it."""
    import modal

    import modal_app

    seen = set()
    for name, function in vars(modal_app).items():
        if not isinstance(function, modal.Function) or function.info().web_info is None:
            continue
        for path, ops in function.local().openapi()["paths"].items():
            local = ROOT_FUNCTIONS[name] + path.rstrip("/") if name in ROOT_FUNCTIONS else path
            for method, op in methods(ops).items():
                assert _typed(op) == _typed(doc["paths"][local][method]), (name, path, method)
                assert op.get("security") == doc["paths"][local][method].get("security"), (name, path, method)
                # The SDKs map a path to its deployed URL by these two (clients/*/routes).
                assert doc["paths"][local]["x-wan-function"] == name, local
                assert doc["paths"][local]["x-wan-function-path"] == path, local
                seen.add((method, local))
    assert seen == USER_ROUTES | OPEN_ROUTES | OPERATOR_ROUTES | ADMIN_ROUTES


# --- what a client generator needs (issue 24) -----------------------------------------------------------

def _walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_the_document_names_its_server_and_each_paths_function(doc):
    assert doc["servers"][0]["url"] == "http://127.0.0.1:8000"
    for path, item in doc["paths"].items():
        assert item["x-wan-function"] in openapi.FUNCTIONS, path
        assert item["x-wan-function-path"].startswith("/"), path


def test_the_upload_form_is_named_and_its_file_is_binary(doc):
    schemas = doc["components"]["schemas"]
    assert not [name for name in schemas if name.startswith("Body_")]
    form = schemas["ImageToVideoForm"]
    assert form["properties"]["image"]["format"] == "binary"
    body = doc["paths"]["/image-to-video"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body == {"$ref": "#/components/schemas/ImageToVideoForm"}
    ratio = form["properties"]["aspect_ratio"]
    assert ratio["anyOf"][0] == {"type": "string", "enum": ["16:9", "9:16"]}


def test_no_enum_or_pattern_stands_beside_an_anyof(doc):
    """Beside `anyOf`, generators read an enum as one of unknown type (openapi-typescript: `@enum {unknown}`)."""
    loose = [node for node in _walk(doc) if "anyOf" in node and ({"enum", "pattern"} & set(node))]
    assert not loose


def test_every_error_model_is_an_error_with_one_code_enum(doc):
    schemas = doc["components"]["schemas"]
    assert set(schemas["ErrorCode"]["enum"]) == {cls.code for cls in api_models.ERROR_MODELS}
    assert schemas["Error"]["properties"]["code"] == {"$ref": "#/components/schemas/ErrorCode"}
    for path, item in doc["paths"].items():
        for method, op in methods(item).items():
            for status, answer in op["responses"].items():
                if int(status) < 400:
                    continue
                schema = answer["content"]["application/json"]["schema"]
                for ref in (s["$ref"] for s in schema.get("anyOf", [schema])):
                    model = schemas[ref.rsplit("/", 1)[1]]
                    assert model["allOf"] == [{"$ref": "#/components/schemas/Error"}], (method, path, status)


def test_every_operation_has_examples(doc):
    schemas = doc["components"]["schemas"]

    def has_example(media: dict) -> bool:
        schema = media.get("schema", {})
        named = schemas.get(schema.get("$ref", "").rsplit("/", 1)[-1], {})
        return bool(media.get("examples") or media.get("example") or named.get("examples")
                    or schema.get("examples") or schema.get("format") == "binary")  # a byte stream shows none

    for path, item in doc["paths"].items():
        for method, op in methods(item).items():
            body = op.get("requestBody", {}).get("content", {})
            assert all(has_example(media) for media in body.values()), (method, path, "request")
            for status, answer in op["responses"].items():
                for media_type, media in answer.get("content", {}).items():
                    assert has_example(media), (method, path, status, media_type)


def test_every_example_is_valid_against_its_schema(doc):
    """A schema's `examples` and each operation's own examples (errors, request bodies) are answers a
    client may be written from: each must validate, as the real answers do (`validate` above)."""
    invalid = []

    def check(schema: dict, example, where) -> None:
        validator = jsonschema.Draft202012Validator({**schema, "components": doc["components"]},
                                                    format_checker=jsonschema.FormatChecker())
        invalid.extend((where, e.json_path, e.message) for e in validator.iter_errors(example))

    checked = 0
    for name, schema in doc["components"]["schemas"].items():
        for example in schema.get("examples", []):
            check(schema, example, name)
            checked += 1
    for path, item in doc["paths"].items():
        for method, op in methods(item).items():
            medias = [("request", m) for m in op.get("requestBody", {}).get("content", {}).values()]
            medias += [(status, m) for status, answer in op["responses"].items()
                       for m in answer.get("content", {}).values()]
            for where, media in medias:
                schema = media.get("schema", {})
                examples = [e["value"] for e in media.get("examples", {}).values()]
                examples += [media["example"]] if "example" in media else []
                examples += schema.get("examples", [])  # an optional body's (anyOf [its model, null])
                for example in examples:
                    check(schema, example, (method, path, where))
                    checked += 1
    assert not invalid, invalid
    assert checked > len(doc["components"]["schemas"]) // 2  # the walk found the examples
