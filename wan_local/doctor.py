"""`wan-api doctor [--json]`: checks a deployment against the vendors themselves (contract section 6).

One line per check, `ok` / `warn` / `fail`, each saying what was found and what to do; then a summary;
exit 1 when anything fails. It asks, with the vendors' official clients:
- Replicate: the token (GET /v1/account); each catalog model (GET /v1/models/{owner}/{name}) and every
  value GET /pricing sells against its published input schema
  (latest_version.openapi_schema.components.schemas.Input); the webhook secret
  (GET /v1/webhooks/default/secret);
- Stripe, when configured: the key (GET /v1/account); our webhook endpoint, its events and API version
  (GET /v1/webhook_endpoints);
- the database: migrations applied with their checksums, the grants the service relies on, the
  storage bucket, ledger_discrepancies();
- the settings: the secret's keys, ALLOWED_ORIGINS, METRICS_TOKEN, WEBHOOK_URL (and that it answers as
  our webhook);
- the margin: each variant's credits at the cheapest pack's price per credit against the provider's price.
Against `wan-api dev`'s settings it checks the local emulators, which answer these calls as the vendors do.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import json
import math
import re
import sys
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence
from urllib.parse import urlsplit

from shared import catalog, costs, packs
from shared.settings import Settings, get_settings

TIMEOUT_SECONDS = 15
SOURCE_DIRS = ("shared", "functions", "wan_local")  # where the service's database calls are written
_CALL = re.compile(r"""\.call(?:\(|,)\s*["']([a-z_][a-z0-9_]*)["']""")
SEED_RANGE = (0, 2**32 - 1)  # what our API accepts for `seed` (shared/schemas.py)


@dataclass(frozen=True)
class Check:
    area: str      # replicate | stripe | database | settings | margin
    name: str
    status: str    # ok | warn | fail
    detail: str    # what was found and, unless ok, what to do

    def line(self) -> str:
        return f"{self.status:<5} {self.area:<9} {self.name}: {self.detail}"


def ok(area, name, detail) -> Check:
    return Check(area, name, "ok", detail)


def warn(area, name, detail) -> Check:
    return Check(area, name, "warn", detail)


def fail(area, name, detail) -> Check:
    return Check(area, name, "fail", detail)


def production(settings: Settings) -> bool:
    """Deployed settings (what the Modal secret holds) point at Supabase; the local stack does not."""
    return bool(settings.supabase_url)


def run(settings: Settings) -> list[Check]:
    found: list[Check] = []
    for area, check in (("replicate", replicate_checks), ("stripe", stripe_checks), ("database", database_checks),
                        ("settings", settings_checks), ("margin", margin_checks)):
        try:
            found += check(settings)
        except Exception as exc:  # noqa: BLE001 - one area's surprise must not hide the others' answers
            found.append(fail(area, "check", f"could not run ({type(exc).__name__}: {exc}); fix that and run again"))
    return found


# --- Replicate ------------------------------------------------------------------------------------

def replicate_checks(settings: Settings) -> list[Check]:
    import replicate
    from replicate.exceptions import ReplicateError

    area = "replicate"
    if not settings.replicate_api_token:
        return [fail(area, "token", "REPLICATE_API_TOKEN is not set: add it to the Modal secret")]
    client = replicate.Client(api_token=settings.replicate_api_token, base_url=settings.replicate_base_url,
                              timeout=TIMEOUT_SECONDS)
    try:
        account = client.accounts.current()
    except ReplicateError as exc:
        return [fail(area, "token", f"{settings.replicate_base_url} refused the token ({exc.status}: {exc.detail}): "
                                    "make one at replicate.com/account/api-tokens and set REPLICATE_API_TOKEN")]
    except Exception as exc:  # noqa: BLE001 - httpx's connection errors, whatever their class
        return [fail(area, "token", f"{settings.replicate_base_url} did not answer ({exc}): check REPLICATE_BASE_URL")]
    found = [ok(area, "token", f"works (account {account.username}, {account.type})")]
    for name, model in catalog.REPLICATE_MODELS.items():
        found += model_checks(client, model)
    found.append(webhook_secret_check(client, settings))
    return found


def sold_by(model_name: str, variants: Sequence[catalog.Variant] = catalog.VARIANTS) -> list[catalog.Variant]:
    return [v for v in variants if v.replicate_model == model_name]


def model_checks(client, model: catalog.ReplicateModel) -> list[Check]:
    from replicate.exceptions import ReplicateError

    sellers = ", ".join(f"{v.model} {v.resolution}" for v in sold_by(model.name))
    name = f"model {model.name}"
    try:
        published = client.models.get(model.name)
    except ReplicateError as exc:
        if exc.status == 404:
            return [fail("replicate", name, f"{model.name} does not exist at Replicate (404), yet {sellers} is sold on it: stop "
                                            f"selling it (remove its Variant rows from shared/catalog.py) or map it "
                                            f"to the model that replaced it")]
        raise
    version = published.latest_version
    if version is None or not version.openapi_schema:
        return [fail("replicate", name, "has no published version with a schema: creates by model would fail; "
                                        "stop selling it until it has one")]
    problems = schema_problems(model, version.openapi_schema)
    if not problems:
        return [ok("replicate", name, f"exists; its schema (version {version.id[:12]}) takes every value we sell "
                                      f"({sellers})")]
    fix = (f"refresh the catalog: read GET /v1/models/{model.name} "
           f"(latest_version.openapi_schema.components.schemas.Input), update its inputs in shared/catalog.py, "
           f"run the tests, then `wan-api doctor` again")
    return [fail("replicate", name, f"{p}; {fix}") for p in problems]


def _resolve(prop: dict, schema: dict) -> dict:
    """An input's schema with its allOf/$ref (how Cog publishes a `choices` enum) merged in."""
    merged = {k: v for k, v in prop.items() if k not in ("allOf", "$ref")}
    refs = [prop] if "$ref" in prop else []
    refs += [p for p in prop.get("allOf", []) if isinstance(p, dict)]
    for ref in refs:
        target = ref
        if "$ref" in ref:
            target = schema
            for part in ref["$ref"].lstrip("#/").split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
        merged = {**{k: v for k, v in target.items() if k not in ("title", "description")}, **merged}
    return merged


def _sold_values(model: catalog.ReplicateModel, input_name: str) -> dict[object, list[str]]:
    """{value we send for this input: [the variants that send it]} (only inputs with fixed values)."""
    values: dict[object, list[str]] = {}
    spec = model.inputs[input_name]
    for v in sold_by(model.name):
        fixed = dict(v.fixed_input)
        if input_name in fixed:
            sent = [fixed[input_name]]
        elif input_name == "aspect_ratio":
            sent = catalog.aspect_ratios_of(v.model)  # what GET /pricing lists for the model
        else:
            sent = list(spec.choices or ())
        for value in sent:
            values.setdefault(value, []).append(f"{v.model} {v.resolution}")
    return values


def schema_problems(model: catalog.ReplicateModel, schema: dict) -> list[str]:
    """Each way the published schema refuses what we send: one sentence naming model, input and value."""
    try:
        spec_input = schema["components"]["schemas"]["Input"]
    except (KeyError, TypeError):
        return [f"{model.name}: the schema has no components.schemas.Input"]
    props = spec_input.get("properties") or {}
    problems = [f"{model.name}: input {name!r} is required by the model and we never send it"
                for name in spec_input.get("required") or [] if name not in model.inputs]
    for name, ours in model.inputs.items():
        if name not in props:
            problems.append(f"{model.name}: input {name!r}, which we send, is no longer in its schema "
                            f"(Replicate would drop it without a word)")
            continue
        published = _resolve(props[name], schema)
        kind = published.get("type")
        expected = "integer" if ours.type == "integer" else "string"
        if kind and kind != expected and not (expected == "integer" and kind == "number"):
            problems.append(f"{model.name}: input {name!r} is now of type {kind}; we send a {expected}")
            continue
        enum = published.get("enum")
        values = _sold_values(model, name)
        for value, who in values.items():
            if enum is not None and value not in enum:
                problems.append(f"{model.name}: input {name!r} does not take {value!r} any more (it takes "
                                f"{', '.join(map(repr, enum))}), sold by {', '.join(who)}")
        if enum is not None and not values and name != "image":
            problems.append(f"{model.name}: input {name!r} now takes only {', '.join(map(repr, enum))}, and we "
                            f"send whatever the user wrote")
        if name == "seed":
            low, high = published.get("minimum"), published.get("maximum")
            if (low is not None and low > SEED_RANGE[0]) or (high is not None and high < SEED_RANGE[1]):
                problems.append(f"{model.name}: input 'seed' takes {low if low is not None else '-inf'} to "
                                f"{high if high is not None else 'inf'}, and our API accepts {SEED_RANGE[0]} to "
                                f"{SEED_RANGE[1]} (narrow shared/schemas.py's seed to match)")
        elif ours.minimum is not None or ours.maximum is not None:
            low, high = published.get("minimum"), published.get("maximum")
            if (low is not None and ours.minimum is not None and ours.minimum < low) or (
                    high is not None and ours.maximum is not None and ours.maximum > high):
                problems.append(f"{model.name}: input {name!r} takes {low} to {high}; we send "
                                f"{ours.minimum} to {ours.maximum}")
    return problems


def webhook_secret_check(client, settings: Settings) -> Check:
    name = "webhook secret"
    theirs = client.webhooks.default.secret().key
    ours = settings.replicate_webhook_secret
    if not ours:
        return fail("replicate", name, "REPLICATE_WEBHOOK_SECRET is not set: every webhook would be refused; "
                                       "set it to the key GET /v1/webhooks/default/secret answers")
    if not hmac.compare_digest(ours.encode(), theirs.encode()):
        return fail("replicate", name, "REPLICATE_WEBHOOK_SECRET differs from the account's: every webhook is "
                                       "refused (401) and only the sweep settles generations; set it to the key "
                                       "GET /v1/webhooks/default/secret answers, then redeploy")
    return ok("replicate", name, "equals the account's (GET /v1/webhooks/default/secret)")


# --- Stripe ---------------------------------------------------------------------------------------

def stripe_webhook_url(settings: Settings) -> str | None:
    """Our Stripe webhook's public URL: STRIPE_WEBHOOK_URL, else derived from WEBHOOK_URL (the
    `stripe_webhook` function beside `replicate_webhook` on Modal; /webhooks/stripe locally)."""
    if settings.stripe_webhook_url:
        return settings.stripe_webhook_url
    url = settings.webhook_url or ""
    parts = urlsplit(url)
    if parts.hostname and parts.hostname.endswith(".modal.run") and "-replicate-webhook" in parts.hostname:
        return f"{parts.scheme}://{parts.netloc.replace('-replicate-webhook', '-stripe-webhook')}/"
    if parts.path.rstrip("/").endswith("/webhooks/replicate"):
        return url.split("?")[0].rstrip("/").removesuffix("/webhooks/replicate") + "/webhooks/stripe"
    return None


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def stripe_checks(settings: Settings) -> list[Check]:
    import stripe

    from shared.purchases import STRIPE_API_VERSION, WEBHOOK_EVENTS, stripe_client

    area = "stripe"
    if not settings.stripe_secret_key:
        return [warn(area, "configured", "no STRIPE_SECRET_KEY: credits cannot be bought (POST /checkout answers "
                                         "503); README 'Deploying' step 4 sets it up")]
    client = stripe_client(settings)
    found = []
    try:
        account = client.v1.accounts.retrieve_current()
        mode = "live" if settings.stripe_secret_key.startswith(("sk_live", "rk_live")) else "test"
        found.append(ok(area, "key", f"works (account {account.id}, {mode} mode)"))
    except stripe.AuthenticationError as exc:
        return [fail(area, "key", f"Stripe refused STRIPE_SECRET_KEY ({exc.user_message or exc}): copy the key "
                                  "from Dashboard -> Developers -> API keys")]
    except stripe.PermissionError:
        found.append(warn(area, "key", "a restricted key that cannot read the account: it works for Stripe, "
                                       "but give it 'Webhook Endpoints: read' so this check can see the endpoint"))
    except stripe.APIConnectionError as exc:
        return [fail(area, "key", f"{settings.stripe_api_base} did not answer ({exc.user_message or exc})")]
    if not settings.stripe_webhook_secret:
        found.append(fail(area, "webhook secret", "STRIPE_WEBHOOK_SECRET is not set: every Stripe event is "
                                                  "refused; copy the endpoint's signing secret into the secret"))
    url = stripe_webhook_url(settings)
    if url is None:
        return found + [warn(area, "webhook endpoint", "cannot tell our Stripe webhook URL from WEBHOOK_URL: set "
                                                       "STRIPE_WEBHOOK_URL to the stripe_webhook function's URL")]
    try:
        endpoints = list(client.v1.webhook_endpoints.list(params={"limit": 100}).auto_paging_iter())
    except stripe.PermissionError:
        return found + [warn(area, "webhook endpoint", "the key may not read webhook endpoints: check in the "
                                                       f"Dashboard that {url} receives {', '.join(WEBHOOK_EVENTS)}")]
    ours = [e for e in endpoints if _same_url(e.url, url)]
    if not ours:
        return found + [fail(area, "webhook endpoint", f"none for {url}: add it (Dashboard -> Developers -> Webhooks) "
                                                       f"with api_version {STRIPE_API_VERSION} and the events "
                                                       f"{', '.join(WEBHOOK_EVENTS)}")]
    for endpoint in ours:
        name = f"webhook endpoint {endpoint.id}"
        enabled = set(endpoint.enabled_events or [])
        missing = [e for e in WEBHOOK_EVENTS if "*" not in enabled and e not in enabled]
        if endpoint.status != "enabled":
            found.append(fail(area, name, f"for {url} is {endpoint.status}: enable it in the Dashboard"))
        elif missing:
            found.append(fail(area, name, f"for {url} lacks {', '.join(missing)}: add them to the endpoint's events"))
        elif endpoint.api_version is None:
            found.append(warn(area, name, f"renders events in the account's default API version, not the pinned "
                                          f"{STRIPE_API_VERSION}: recreate it with api_version={STRIPE_API_VERSION}"))
        elif endpoint.api_version != STRIPE_API_VERSION:
            found.append(fail(area, name, f"renders events in API version {endpoint.api_version}, and the code is "
                                          f"pinned to {STRIPE_API_VERSION} (shared/purchases.py STRIPE_API_VERSION): "
                                          f"create an endpoint with api_version={STRIPE_API_VERSION}, put its "
                                          f"signing secret in STRIPE_WEBHOOK_SECRET, then delete this one"))
        else:
            found.append(ok(area, name, f"for {url}: enabled, every needed event, API version {STRIPE_API_VERSION}"))
    return found


# --- the database ---------------------------------------------------------------------------------

def called_functions(root: Path | None = None) -> list[str]:
    """Every database function the code calls (`backend.call(<function name>, ...)`), read from the source, so
    the list never lags behind the code."""
    root = root or Path(__file__).resolve().parent.parent
    names: set[str] = set()
    for directory in SOURCE_DIRS:
        for path in (root / directory).rglob("*.py"):
            names.update(_CALL.findall(path.read_text()))
    return sorted(names)


def database_checks(settings: Settings) -> list[Check]:
    if settings.database_url:
        return _postgres_checks(settings)
    if settings.supabase_url and settings.supabase_service_role_key:
        return _supabase_checks(settings)
    return [fail("database", "configured",
                 "neither DATABASE_URL nor SUPABASE_URL with SUPABASE_SERVICE_ROLE_KEY is set")]


def _postgres_checks(settings: Settings) -> list[Check]:
    import psycopg

    from wan_local.migrate import _checksum, migration_files

    area = "database"
    try:
        conn = psycopg.connect(settings.database_url, connect_timeout=10, autocommit=True)
    except psycopg.Error as exc:
        return [fail(area, "connect", f"DATABASE_URL did not connect ({str(exc).strip().splitlines()[0]})")]
    with conn:
        found = [_migration_check(conn, migration_files(), _checksum), *_grant_checks(conn),
                 _bucket_check(conn, settings.storage_bucket)]
        rows = conn.execute("select * from public.ledger_discrepancies()").fetchall()
        found.append(_ledger_check(len(rows), rows[:3]))
    return found


def _migration_check(conn, files: list[Path], checksum) -> Check:
    name = "migrations"
    if conn.execute("select to_regclass('wan_private.schema_migrations')").fetchone()[0] is None:
        return fail("database", name, "no migration was ever applied here: run `wan-api migrate` with this DATABASE_URL")
    done = dict(conn.execute("select filename, checksum from wan_private.schema_migrations").fetchall())
    pending = [p.name for p in files if p.name not in done]
    changed = [p.name for p in files if p.name in done and done[p.name] != checksum(p.read_text())]
    unknown = sorted(set(done) - {p.name for p in files})
    if pending:
        return fail("database", name, f"{len(pending)} not applied ({', '.join(pending)}): run `wan-api migrate`, "
                                      f"then deploy")
    if changed:
        return fail("database", name, f"{', '.join(changed)} changed after it was applied (the database differs "
                                      f"from the file): restore the file and put the change in a new migration")
    if unknown:
        return warn("database", name, f"applied here but not in this checkout: {', '.join(unknown)} (is this code "
                                      f"older than the database? pull before deploying)")
    return ok("database", name, f"all {len(files)} applied, checksums match")


def _grant_checks(conn) -> list[Check]:
    rows = conn.execute(
        "select p.proname, bool_or(has_function_privilege('service_role', p.oid, 'execute')), "
        "bool_or(has_function_privilege('anon', p.oid, 'execute') or "
        "        has_function_privilege('authenticated', p.oid, 'execute')) "
        "from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public' "
        "group by p.proname").fetchall()
    by_name = {name: (service, public) for name, service, public in rows}
    needed = called_functions()
    missing = [f for f in needed if f not in by_name]
    not_granted = [f for f in needed if f in by_name and not by_name[f][0]]
    open_to_users = sorted(f for f, (_, public) in by_name.items() if public)
    found = []
    if missing:
        found.append(fail("database", "functions", f"the code calls {', '.join(missing)}, which the database lacks: "
                                                   f"run `wan-api migrate`"))
    if not_granted:
        found.append(fail("database", "grants", f"service_role may not execute {', '.join(not_granted)}: the service "
                                                f"would answer 503; grant it in a new migration"))
    if open_to_users:
        found.append(fail("database", "grants", f"anon or authenticated may execute {', '.join(open_to_users)}: any "
                                                f"signed-in user could call it over the REST API; revoke it in a new "
                                                f"migration"))
    tables = [t for (t,) in conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'public' and c.relkind = 'r' and not c.relrowsecurity order by 1").fetchall()]
    if tables:
        found.append(fail("database", "row level security",
                          f"row level security is off on {', '.join(tables)}: enable it in a new migration"))
    if not found:
        found.append(ok("database", "grants", f"service_role executes the {len(needed)} functions the code calls; no "
                                              f"function is open to anon or authenticated; every table has RLS"))
    return found


def _bucket_check(conn, bucket: str) -> Check:
    row = conn.execute("select public from storage.buckets where id = %s", (bucket,)).fetchone()
    return _bucket_verdict(bucket, None if row is None else row[0])


def _bucket_verdict(bucket: str, public: bool | None) -> Check:
    if public is None:
        return fail("database", "storage bucket", f"{bucket!r} does not exist: run `wan-api migrate` (0005 creates "
                                                  f"it) or set STORAGE_BUCKET to the one you made")
    if public:
        return fail("database", "storage bucket", f"{bucket!r} is public: anyone with a path can fetch users' videos; "
                                                  f"make it private (Storage -> bucket -> Edit)")
    return ok("database", "storage bucket", f"{bucket!r} exists and is private")


def _ledger_check(count: int, sample: list) -> Check:
    if count:
        return fail("database", "ledger", f"{count} broken money rules (first: {sample}): read "
                                          f"`select * from ledger_discrepancies()` and fix each before selling")
    return ok("database", "ledger", "ledger_discrepancies() is empty")


def _supabase_checks(settings: Settings) -> list[Check]:
    from shared.db import SupabaseBackend

    backend = SupabaseBackend.connect(settings.supabase_url, settings.supabase_service_role_key)
    try:
        rows = backend.call("ledger_discrepancies")
        try:
            bucket = backend.client.storage.get_bucket(settings.storage_bucket)
            public = bool(bucket.public)
        except Exception:  # noqa: BLE001 - storage3 raises its own error for a missing bucket
            public = None
        return [warn("database", "migrations", "not checked: set DATABASE_URL (Supabase -> Connect -> Session "
                                               "pooler) to check migrations and grants"),
                _bucket_verdict(settings.storage_bucket, public), _ledger_check(len(rows), rows[:3])]
    finally:
        backend.close()


# --- settings -------------------------------------------------------------------------------------

def required_keys() -> list[str]:
    try:
        from modal_app import REQUIRED_KEYS
    except ImportError:  # modal not installed here: the keys modal_app.py requires, as of this writing
        return ["SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "REPLICATE_API_TOKEN", "REPLICATE_WEBHOOK_SECRET",
                "WEBHOOK_URL"]
    return list(REQUIRED_KEYS)


def settings_checks(settings: Settings) -> list[Check]:
    area, live = "settings", production(settings)
    found = []
    if live:
        missing = [k for k in required_keys() if not getattr(settings, k.lower(), None)]
        found.append(fail(area, "secret", f"lacks {', '.join(missing)}: `modal secret create wan-secrets "
                                          f"--from-dotenv .env --force` with them (README 'Deploying')")
                     if missing else ok(area, "secret", f"has every required key ({', '.join(required_keys())})"))
    else:
        found.append(ok(area, "secret", "local stack (no SUPABASE_URL): the production keys are not needed"))
    if "*" in settings.origins:
        found.append(fail(area, "ALLOWED_ORIGINS", "is * in production: any site can call the API with a user's "
                                                   "token; set it to the frontend's origins")
                     if live else ok(area, "ALLOWED_ORIGINS", "* (fine locally; production needs the frontend's origins)"))
    else:
        found.append(ok(area, "ALLOWED_ORIGINS", ", ".join(settings.origins) or "(none)"))
    token = settings.metrics_token
    if not token:
        found.append(warn(area, "METRICS_TOKEN", "unset: GET /metrics answers 404 and nothing can scrape or alert; "
                                                 "set a long random one (python -c 'import secrets; "
                                                 "print(secrets.token_urlsafe(32))')"))
    elif len(token) < 16:
        found.append(warn(area, "METRICS_TOKEN", "shorter than 16 characters: make it a long random one"))
    else:
        found.append(ok(area, "METRICS_TOKEN", "set"))
    found += webhook_url_checks(settings, live)
    if settings.stripe_secret_key:
        success = settings.checkout_success_url or ""
        if not success or not settings.checkout_cancel_url:
            found.append(fail(area, "CHECKOUT_*_URL", "CHECKOUT_SUCCESS_URL and CHECKOUT_CANCEL_URL must both be set "
                                                      "to the frontend's pages"))
        elif "{CHECKOUT_SESSION_ID}" not in success:
            found.append(warn(area, "CHECKOUT_SUCCESS_URL", "has no {CHECKOUT_SESSION_ID}: the success page cannot "
                                                            "confirm the purchase (it waits for the webhook instead)"))
        else:
            found.append(ok(area, "CHECKOUT_*_URL", "set, the success URL carries {CHECKOUT_SESSION_ID}"))
    return found


def _private_host(host: str) -> bool:
    if host in ("localhost",) or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_private or address.is_loopback or address.is_link_local


def webhook_url_checks(settings: Settings, live: bool) -> list[Check]:
    import httpx

    area, name, url = "settings", "WEBHOOK_URL", settings.webhook_url
    if not url:
        return [fail(area, name, "unset: Replicate would have nowhere to report back; set it to the "
                                 "replicate_webhook function's URL")]
    parts = urlsplit(url)
    host = parts.hostname or ""
    problem = None
    if parts.scheme not in ("https", "http") or not host:
        problem = "is not an absolute http(s) URL"
    elif parts.username or parts.password:
        problem = "carries credentials"
    elif "generation_id" in parts.query:
        problem = "already has a generation_id (the service adds it per prediction)"
    elif live and (parts.scheme != "https" or _private_host(host)):
        problem = "must be a public https URL in production (Replicate calls it from the internet)"
    elif parts.scheme == "http" and not _private_host(host):
        problem = "is plain http on a public host: use https"
    if problem:
        return [fail(area, name, f"{url} {problem}")]
    if host.endswith(".modal.run") and parts.path not in ("", "/"):
        return [fail(area, name, f"{url}: the replicate_webhook function answers at its root; drop the path")]
    probe = f"{url}{'&' if '?' in url else '?'}generation_id={uuid.UUID(int=0)}"
    try:
        answer = httpx.post(probe, content=b"{}", headers={"content-type": "application/json"},
                            timeout=TIMEOUT_SECONDS, follow_redirects=False)
        is_json = answer.headers.get("content-type", "").startswith("application/json")
        code = answer.json().get("code") if is_json else None
    except (httpx.HTTPError, ValueError) as exc:
        return [fail(area, name, f"{url} did not answer ({exc}): Replicate could not deliver webhooks there")]
    if answer.status_code == 401 and code == "invalid_signature":
        return [ok(area, name, f"{url} answers as our webhook (an unsigned delivery is refused with 401)")]
    return [fail(area, name, f"{url} answered {answer.status_code} {code or ''} to an unsigned delivery, not 401 "
                             f"invalid_signature: it is not this service's replicate_webhook function")]


# --- margin ---------------------------------------------------------------------------------------

def cheapest_credit(pack_list: Iterable[packs.Pack] = packs.PACKS) -> tuple[float, packs.Pack] | None:
    """The lowest price of one credit among the USD packs (in dollars), and its pack: the least a
    credit ever brings in."""
    usd = [(p.amount / 100 / p.credits, p) for p in pack_list if p.currency == "usd" and p.credits > 0]
    return min(usd, key=lambda x: x[0]) if usd else None


def margin_rows(table: costs.CostTable, variants: Sequence[catalog.Variant] = catalog.VARIANTS,
                pack_list: Iterable[packs.Pack] = packs.PACKS) -> list[dict]:
    """Per variant: credits, the least revenue of one sale, the provider's price, the margin."""
    cheapest = cheapest_credit(pack_list)
    rows = []
    for v in variants:
        credits = table.of(v)
        revenue = credits * cheapest[0] if cheapest else None
        price = v.price.per_run if v.price else None
        margin = (revenue - price) / revenue if revenue and price is not None else None
        rows.append({"variant": v, "credits": credits, "revenue": revenue, "price": price, "margin": margin,
                     "pack": cheapest[1] if cheapest else None})
    return rows


def credits_for(provider_price: float, per_credit: float, margin: float) -> int:
    """The fewest credits whose revenue at `per_credit` keeps `margin` over `provider_price`."""
    return math.ceil(provider_price / (1 - margin) / per_credit - 1e-9)


def margin_checks(settings: Settings, variants: Sequence[catalog.Variant] = catalog.VARIANTS,
                  pack_list: Iterable[packs.Pack] = packs.PACKS) -> list[Check]:
    pack_list = list(pack_list)
    cheapest = cheapest_credit(pack_list)
    if cheapest is None:
        return [warn("margin", "packs", "no USD pack on sale: the margin cannot be computed")]
    per_credit, pack = cheapest
    least = settings.min_margin
    found = []
    for row in margin_rows(costs.of(settings), variants, pack_list):
        v, credits, revenue, price = row["variant"], row["credits"], row["revenue"], row["price"]
        name = f"{v.model} {v.resolution}"
        sale = f"{credits} credits bring in at least ${revenue:.3f} ({pack.pack_id}: ${per_credit:.4f} a credit)"
        def setting(provider_price: float) -> str:
            """The CREDIT_COSTS entry that keeps MIN_MARGIN at this provider price."""
            return f"CREDIT_COSTS={v.model}:{v.resolution}={credits_for(provider_price, per_credit, least)}"

        if price is None:
            estimate = ""
            if v.price and v.price.high_estimate is not None:
                high = v.price.high_estimate
                verdict = f"lose ${high - revenue:.2f}" if high > revenue else f"earn ${revenue - high:.2f}"
                keep = f"; {setting(high)} would keep {least:.0%}" if (revenue - high) / revenue < least else ""
                estimate = f"; at the highest third-party figure (${high:.2f} a run) a sale would {verdict}{keep}"
            found.append(warn("margin", name, f"price unknown: read it at replicate.com/{v.replicate_model} and set "
                                              f"it in shared/catalog.py{estimate}"))
        elif price > revenue:
            found.append(fail("margin", name, f"a sale loses ${price - revenue:.3f}: Replicate charges ${price:.3f} a "
                                              f"run and {sale}; set {setting(price)} (keeps {least:.0%}) and "
                                              f"redeploy"))
        elif row["margin"] < least:
            found.append(warn("margin", name, f"margin {row['margin']:.0%} is under MIN_MARGIN {least:.0%}: Replicate "
                                              f"charges ${price:.3f} and {sale}; {setting(price)} keeps "
                                              f"{least:.0%}"))
        else:
            found.append(ok("margin", name, f"margin {row['margin']:.0%}: Replicate charges ${price:.3f} and {sale}"))
    return found


def margin_table(min_margin: float = 0.30) -> str:
    """The README's margin table at the default costs (tests/test_deploy_guide.py keeps the README's
    copy equal to this): what one sale of each variant brings in per pack, and the provider price per
    run it can bear."""
    usd = [p for p in packs.PACKS if p.currency == "usd"]
    head = ["variant", "credits", *[f"{p.pack_id} (${p.amount / 100:.2f})" for p in usd],
            "break-even price a run", f"max price for {min_margin:.0%}", "provider price", "third-party figures"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in margin_rows(costs.DEFAULT, pack_list=usd):
        v, credits, least = row["variant"], row["credits"], row["revenue"]
        known = f"${row['price']:.3f} a run" if row["price"] is not None else "unknown"
        lines.append("| " + " | ".join([
            f"`{v.model}` {v.resolution}", str(credits),
            *[f"${credits * p.amount / 100 / p.credits:.3f}" for p in usd],
            f"${least:.3f} (${least / v.price.output_seconds:.3f}/s)",
            f"${least * (1 - min_margin):.3f}", known, v.price.estimates or "none found"]) + " |")
    return "\n".join(lines)


# --- the command ----------------------------------------------------------------------------------

HELP = """\
Checks the deployment the settings describe against Replicate, Stripe and the database, and the
prices against the provider's: one line per check (ok, warn or fail, with what to do), then a
summary. Exit code 1 when any check fails. Run it after every deploy, with the production settings
(e.g. `set -a; . ./.env; set +a` first), or against `wan-api dev`'s."""


def summary(checks: list[Check]) -> dict:
    counts = {s: sum(c.status == s for c in checks) for s in ("ok", "warn", "fail")}
    return {"checks": len(checks), **counts}


def cmd_doctor(args: argparse.Namespace) -> int:
    checks = run(get_settings())
    counts = summary(checks)
    if args.json:
        print(json.dumps({"checks": [asdict(c) for c in checks], "summary": counts}))
    else:
        for check in checks:
            print(check.line())
        verdict = "FAILED" if counts["fail"] else "passed"
        print(f"doctor {verdict}: {counts['checks']} checks, {counts['ok']} ok, {counts['warn']} warn, "
              f"{counts['fail']} fail")
    return 1 if counts["fail"] else 0


def add_command(commands) -> None:
    doctor = commands.add_parser("doctor", help="check the deployment against the vendors and the prices against cost",
                                 description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.set_defaults(run=cmd_doctor)


if __name__ == "__main__":  # pragma: no cover - `wan-api doctor` is the way in
    sys.exit(cmd_doctor(argparse.Namespace(json="--json" in sys.argv)))
