"""Issue 20, the edges: a signed Replicate body with a lone surrogate, booleans as seeds, truncated
images, checkout without a profile, Replicate's Retry-After. Real stack, real Postgres."""

from __future__ import annotations

import pytest

from tests.support import assert_error
from tests.test_replicate_webhook import deliver, prediction, snapshot


@pytest.mark.parametrize("field", ["error", "id", "logs", "output"])
def test_a_signed_prediction_with_a_lone_surrogate_is_a_400_not_a_500(api, db, field):
    token, gen_id, pid = api.start_generation()
    before = snapshot(db, gen_id)
    body = prediction(pid, "failed", **{field: "bad \ud800 text"})
    raw = __import__("json").dumps(body)  # the surrogate goes out as the escape "\ud800", valid JSON
    assert "\\ud800" in raw
    assert_error(deliver(api, gen_id, raw), 400, "invalid_payload")
    assert snapshot(db, gen_id) == before
    r = deliver(api, gen_id, prediction(pid, "failed", error="a real error"))  # the good one still lands
    assert r.status_code == 200 and api.status(token, gen_id).json()["refunded"] is True


# --- booleans are not integers ---------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [True, False])
def test_a_boolean_seed_is_a_422_and_charges_nothing(api, db, seed):
    token = api.token()
    r = api.text_to_video(token, seed=seed)
    body = assert_error(r, 422, "invalid_request")
    assert body["errors"][0]["field"] == "seed"
    assert api.balance(token) == 100
    assert api.text_to_video(token, seed=1).status_code == 202  # a real integer still goes


# --- a truncated PNG ---------------------------------------------------------------------------------------
def _png(width: int, height: int, rows: int, *, interlace: int = 0) -> bytes:
    """A PNG whose header says width x height and whose (complete, checksummed) data holds `rows` rows."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes([0x80]) * (width * 3) for _ in range(rows))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, interlace))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_a_png_with_a_valid_header_and_16_rows_of_4096_is_refused_before_the_charge(api, db):
    token = api.token()
    r = api.image_to_video(token, _png(4096, 4096, 16))
    body = assert_error(r, 422, "invalid_request")
    assert body["errors"][0]["field"] == "image" and "truncated" in body["detail"]
    assert api.balance(token) == 100
    assert db.execute("select count(*) from public.generations").fetchone()[0] == 0


def test_whole_pngs_of_every_layout_still_go(api):
    import io

    from PIL import Image

    token = api.token()
    assert api.image_to_video(token, _png(320, 240, 240)).status_code == 202  # exactly every row
    for mode in ("RGB", "RGBA", "L", "P", "1"):
        buffer = io.BytesIO()
        Image.new(mode, (333, 217)).save(buffer, format="PNG", interlace=mode == "RGB")
        r = api.image_to_video(token, buffer.getvalue())
        assert r.status_code == 202, (mode, r.text)
        api.http.post("/cancel", json={"generation_id": r.json()["generation_id"]}, headers=api.auth(token))


# --- checkout without a profile ----------------------------------------------------------------------------
def test_checkout_by_a_user_without_a_profile_is_a_404_and_creates_nothing(api, db):
    user_id, token = api.signup()
    db.execute("delete from public.profiles where id = %s", (user_id,))  # e.g. deleted while signed in
    stripe = api.stack.stripe
    before = len(stripe.sessions)
    assert_error(api.http.post("/checkout", json={"pack_id": "credits-100"}, headers=api.auth(token)), 404, "not_found")
    assert len(stripe.sessions) == before
    assert db.execute("select count(*) from public.purchases").fetchone()[0] == 0


# --- Replicate's Retry-After ----------------------------------------------------------------------------
@pytest.mark.parametrize("given,passed_on", [(42, "42"), (100_000, "300"), (0, "1")])
def test_replicates_retry_after_is_read_capped_and_passed_on(api, given, passed_on):
    behaviour = api.stack.emulator.behaviour
    behaviour.create_status, behaviour.retry_after = 429, given
    token = api.token()
    r = api.text_to_video(token)
    assert_error(r, 503, "provider_unavailable")
    assert r.headers["Retry-After"] == passed_on
    assert api.balance(token) == 100  # refunded


def test_a_429_on_a_status_check_is_not_slept_for_as_long_as_it_asks(stack):
    import time

    from shared.replicate_provider import ProviderError, ReplicateProvider

    stack.emulator.behaviour.get_status, stack.emulator.behaviour.retry_after = 429, 60
    provider = ReplicateProvider("r8_test", stack.settings.replicate_base_url, timeout_seconds=5)
    began = time.monotonic()
    with pytest.raises(ProviderError) as refused:
        provider.get("p_unknown")
    # Three tries; the client would sleep Retry-After (60 s) between them: capped at its 1 s backoff.
    assert time.monotonic() - began < 60
    assert refused.value.status == 429 and refused.value.retry_after == 60


# --- dependency floors ------------------------------------------------------------------------------------
# The first release free of each advisory found (README "Dependency floors"): a floor below would let
# an install resolve a vulnerable (or yanked) release.
ADVISORY_FREE = {"python-multipart": "0.0.31", "supabase": "2.22.3", "starlette": "1.0.1", "fastapi": "0.133.1",
                 "pillow": "12.3", "pyjwt": "2.10.1", "psycopg": "3.3.6"}


def test_no_dependency_floor_admits_a_release_with_a_known_advisory():
    import re
    import tomllib
    from pathlib import Path

    from packaging.version import Version

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
    floors = {}
    for requirement in project["dependencies"]:
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*(>=|==)\s*([0-9][^,;\s]*)", requirement)
        assert match, f"{requirement!r} has no floor"
        floors[match.group(1).lower()] = Version(match.group(3))
    for name, fixed in ADVISORY_FREE.items():
        assert name in floors, f"{name} is not a declared dependency"
        assert floors[name] >= Version(fixed), f"{name}>={floors[name]} admits releases before {fixed}"
