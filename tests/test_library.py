"""The library (issue 25) over real HTTP against the local stack: favorites, the filtered history and
its indexes, retention that keeps favorites, share links and their public pages, the bulk zip."""

from __future__ import annotations

import io
import json
import re
import threading
import uuid
import zipfile
from collections import Counter

import httpx
import pytest

from shared import retention, shares
from shared.credits import NewGeneration
from shared.settings import Settings
from shared.sweep import sweep
from tests.support import Api, assert_error, make_user, wait_for

PROMPTS = ["a red fox running through snow", "A Blue Whale in deep water", "the red planet at dawn"]


def finished(stack, token_or_user, *, prompt: str = "a red fox running through snow", status: str = "succeeded",
             kind: str = "text-to-video", video: bytes | None = b"\x00\x00\x00\x18ftypmp42 fake video",
             days_ago: float | None = None) -> str:
    """A finished generation of this user, its video stored (as the copy stores it): its id."""
    svc = stack.services
    user = token_or_user if isinstance(token_or_user, uuid.UUID) else _user_of(stack, token_or_user)
    gen = svc.credits.create_generation(NewGeneration(
        user_id=user, kind=kind, model="i2v-14B" if kind == "image-to-video" else "t2v-14B", resolution="480p",
        prompt=prompt, cost=10, max_active=1000, image_path="images/x.png" if kind == "image-to-video" else None))
    gid = gen["generation_id"]
    svc.backend.call("record_prediction", p_gen_id=gid, p_replicate_id=f"p-{gid}", p_status=status,
                     p_output_url="https://replicate.delivery/x.mp4" if status == "succeeded" else None,
                     p_error=None if status == "succeeded" else "it broke")
    if status == "succeeded" and video is not None:
        path = f"videos/{user}/{gid}.mp4"
        svc.storage.put(path, video, "video/mp4")
        svc.backend.call("record_video_copy", p_gen_id=gid, p_video_path=path)
    if days_ago is not None:
        import psycopg

        with psycopg.connect(stack.settings.database_url, autocommit=True) as conn:
            conn.execute("update public.generations set completed_at = now() - make_interval(days => %s), "
                         "created_at = now() - make_interval(days => %s) - interval '1 minute' where id = %s",
                         (days_ago, days_ago, gid))
    return gid


def _user_of(stack, token: str) -> uuid.UUID:
    import jwt

    return uuid.UUID(jwt.decode(token, options={"verify_signature": False})["sub"])


def page(api: Api, token: str, **query) -> dict:
    r = api.http.get("/generations", params=query, headers=api.auth(token))
    assert r.status_code == 200, r.text
    return r.json()


# --- favorites -------------------------------------------------------------------------------------

def test_favorite_and_unfavorite_are_idempotent_and_show_on_the_generation(api, stack):
    token = api.token()
    gid = finished(stack, token)
    for _ in range(2):
        r = api.http.put(f"/generations/{gid}/favorite", headers=api.auth(token))
        assert (r.status_code, r.json()) == (200, {"generation_id": gid, "favorite": True})
    assert api.status(token, gid).json()["favorite"] is True
    assert page(api, token)["items"][0]["favorite"] is True
    for _ in range(2):
        r = api.http.delete(f"/generations/{gid}/favorite", headers=api.auth(token))
        assert (r.status_code, r.json()) == (200, {"generation_id": gid, "favorite": False})
    assert api.status(token, gid).json()["favorite"] is False


def test_another_users_or_an_unknown_or_a_deleted_generation_cannot_be_favorited(api, stack):
    owner, other = api.token(), api.token()
    gid = finished(stack, owner)
    for method in ("put", "delete"):
        assert_error(getattr(api.http, method)(f"/generations/{gid}/favorite", headers=api.auth(other)), 404, "not_found")
        assert_error(getattr(api.http, method)(f"/generations/{uuid.uuid4()}/favorite", headers=api.auth(owner)),
                     404, "not_found")
    assert api.status(owner, gid).json()["favorite"] is False
    assert api.http.delete(f"/generations/{gid}", headers=api.auth(owner)).status_code == 200
    assert_error(api.http.put(f"/generations/{gid}/favorite", headers=api.auth(owner)), 404, "not_found")
    assert_error(api.http.put("/generations/not-a-uuid/favorite", headers=api.auth(owner)), 422, "invalid_request")
    assert_error(api.http.put(f"/generations/{gid}/favorite"), 401, "unauthorized")


# --- the filtered history --------------------------------------------------------------------------

def test_history_filters_by_favorite_status_kind_and_words_of_the_prompt(api, stack):
    token, other = api.token(), api.token()
    fox = finished(stack, token, prompt="a red fox running through snow")
    whale = finished(stack, token, prompt="A Blue Whale in deep water", kind="image-to-video")
    planet = finished(stack, token, prompt="the red planet at dawn", status="failed")
    finished(stack, other, prompt="a red fox too, but someone else's")
    api.http.put(f"/generations/{whale}/favorite", headers=api.auth(token))

    def ids(**query):
        return [g["generation_id"] for g in page(api, token, **query)["items"]]

    assert ids() == [planet, whale, fox]
    assert ids(favorite="true") == [whale]
    assert ids(favorite="false") == [planet, fox]
    assert ids(status="failed") == [planet]
    assert ids(status="succeeded") == [whale, fox]
    assert ids(kind="image-to-video") == [whale]
    assert ids(q="RED") == [planet, fox]            # case-insensitive, whole words
    assert ids(q="red fox") == [fox]                # every word
    assert ids(q="whale") == [whale]
    assert ids(q="re") == []                        # a word, not a part of one
    assert ids(q="red", status="succeeded") == [fox]
    assert ids(q="blue", favorite="true", kind="image-to-video") == [whale]
    assert ids(q="  fox,  ") == [fox]               # punctuation and spaces are not words
    assert_error(api.http.get("/generations", params={"q": "!!!"}, headers=api.auth(token)), 422, "invalid_request")
    assert_error(api.http.get("/generations", params={"status": "done"}, headers=api.auth(token)), 422, "invalid_request")
    assert_error(api.http.get("/generations", params={"kind": "gif"}, headers=api.auth(token)), 422, "invalid_request")
    assert_error(api.http.get("/generations", params={"q": "a\x00b"}, headers=api.auth(token)), 422, "invalid_request")


def test_the_cursor_pages_the_filtered_list(api, stack):
    token = api.token()
    made = [finished(stack, token, prompt=f"fox number {i}" if i % 2 else f"cat number {i}") for i in range(9)]
    foxes = [g for i, g in enumerate(made) if i % 2][::-1]
    seen, cursor = [], None
    while True:
        query = {"q": "fox", "limit": 2} | ({"before": cursor} if cursor else {})
        answer = page(api, token, **query)
        seen += [g["generation_id"] for g in answer["items"]]
        cursor = answer["next_cursor"]
        if not cursor:
            break
    assert seen == foxes


# Each filter's statement (exactly what search_generations runs) on 100,000 generations: the plan
# reads the filter's own index. ANALYZE first, so the plan does not wait on autovacuum.
@pytest.mark.parametrize(("flags", "params", "index"), [
    pytest.param((False, True, False, False, False), {}, "generations_favorites", id="favorite"),
    pytest.param((False, None, True, False, False), {"status": "failed"}, "generations_by_status", id="status"),
    pytest.param((False, None, False, True, False), {"kind": "image-to-video"}, "generations_by_kind", id="kind"),
    pytest.param((False, None, False, False, True), {"q": "lighthouse"}, "generations_prompt_words", id="q"),
    pytest.param((True, True, False, False, False), {}, "generations_favorites", id="favorite-paged"),
])
def test_each_filter_is_served_by_its_index_on_100000_generations(db, flags, params, index):
    users = [make_user(db) for _ in range(20)]
    me = users[0]
    # 5,000 generations per user; 1 in 100 a favorite, 1 in 50 failed, 1 in 10 from an image, and
    # "lighthouse" in 1 prompt of 200 (words of the others from a small vocabulary).
    db.execute("""
        insert into public.generations (user_id, kind, model, resolution, prompt, cost, status, favorite,
                                        created_at, completed_at)
        select u.id, case when i %% 10 = 0 then 'image-to-video' else 'text-to-video' end,
               case when i %% 10 = 0 then 'i2v-14B' else 't2v-14B' end, '480p',
               case when i %% 200 = 0 then 'a lighthouse in a storm' else
                 (array['a red fox', 'blue whale', 'city at night', 'forest path'])[1 + i %% 4] || ' ' || i end,
               10, case when i %% 50 = 0 then 'failed' else 'succeeded' end, i %% 100 = 0,
               now() - make_interval(secs => i), now() - make_interval(secs => i)
        from unnest(%s::uuid[]) u(id), generate_series(1, 5000) i""", (users,))
    assert db.execute("select count(*) from public.generations").fetchone()[0] >= 100_000
    db.execute("analyze public.generations")
    (sql,) = db.execute("select public._search_generations_sql(%s, %s, %s, %s, %s)", flags).fetchone()
    # The values in place of $1..$7, as the planner sees them in each EXECUTE's custom plan.
    values = [f"'{me}'::uuid", "21", "now() - interval '1 hour'", f"'{uuid.uuid4()}'::uuid",
              *(f"'{params[k]}'::text" if params.get(k) else "null::text" for k in ("status", "kind", "q"))]
    sql = re.sub(r"\$(\d)", lambda m: values[int(m.group(1)) - 1], sql)
    plan = db.execute(f"explain (format json) {sql}").fetchone()[0]
    used = set(re.findall(r'"Index Name": "([^"]+)"', json.dumps(plan)))
    assert index in used, json.dumps(plan, indent=1)
    assert '"Seq Scan"' not in json.dumps(plan)


# --- retention keeps favorites ---------------------------------------------------------------------

def test_retention_keeps_a_favorites_video_while_keep_favorites_is_on(api, stack):
    token = api.token()
    kept, gone = finished(stack, token, days_ago=40), finished(stack, token, days_ago=40)
    api.http.put(f"/generations/{kept}/favorite", headers=api.auth(token))
    counts = Counter()
    retention.expire(stack.services, counts, batch=100)
    assert counts["retention_expired"] == 1
    assert api.status(token, kept).json()["video_url"] and not api.status(token, kept).json()["expired"]
    assert api.status(token, gone).json()["expired"] is True
    # Unmarked, it is an old video like any other: the next sweep deletes it.
    api.http.delete(f"/generations/{kept}/favorite", headers=api.auth(token))
    assert sweep(stack.services)["retention_expired"] == 1
    assert api.status(token, kept).json()["expired"] is True


def test_with_keep_favorites_off_retention_deletes_favorites_too(api, stack):
    token = api.token()
    gid = finished(stack, token, days_ago=40)
    api.http.put(f"/generations/{gid}/favorite", headers=api.auth(token))
    svc = stack.services
    off = type(svc)(svc.settings.model_copy(update={"keep_favorites": False}), svc.backend, svc.provider, svc.storage)
    counts = Counter()
    retention.expire(off, counts, batch=100)
    assert counts["retention_expired"] == 1
    assert api.status(token, gid).json()["expired"] is True


def test_keep_favorites_is_a_setting_that_defaults_to_on():
    assert Settings(_env_file=None).keep_favorites is True
    assert Settings(_env_file=None, keep_favorites="false").keep_favorites is False


# --- share links -----------------------------------------------------------------------------------

def share(api: Api, token: str, gid: str) -> httpx.Response:
    return api.http.post(f"/generations/{gid}/share", headers=api.auth(token))


def test_a_share_link_is_unguessable_one_per_generation_and_on_the_generation(api, stack):
    token = api.token()
    gid = finished(stack, token)
    first = share(api, token, gid)
    assert first.status_code == 201, first.text
    link = first.json()
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", link["share_id"])  # 16 random bytes = 128 bits
    assert link["share_url"] == f"{stack.url}/s/{link['share_id']}"
    again = share(api, token, gid)
    assert (again.status_code, again.json()) == (200, link)
    assert api.status(token, gid).json()["share_url"] == link["share_url"]
    assert page(api, token)["items"][0]["share_url"] == link["share_url"]
    other = finished(stack, token)
    assert share(api, token, other).json()["share_id"] != link["share_id"]


def test_the_public_page_and_json_show_the_video_and_prompt_and_never_the_owner(api, stack):
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    user_id, token = api.signup(email)
    gid = finished(stack, token, prompt='a fox & a "hen" <script>alert(1)</script>')
    mine = finished(stack, token, prompt="another video of mine")
    link = share(api, token, gid).json()
    public = httpx.Client(base_url=stack.url, timeout=30)  # no token: anyone with the link
    body = public.get(f"/s/{link['share_id']}.json")
    assert body.status_code == 200, body.text
    data = body.json()
    assert set(data) == {"share_id", "kind", "model", "resolution", "prompt", "video_url", "created_at", "views"}
    assert (data["share_id"], data["prompt"], data["kind"]) == (link["share_id"], 'a fox & a "hen" <script>alert(1)</script>',
                                                               "text-to-video")
    html = public.get(f"/s/{link['share_id']}")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    for answer in (body, html):
        text = answer.text
        for secret in (user_id, email, gid, mine, token):
            assert secret not in text
        assert answer.headers["cache-control"] == "no-store"
    assert "<script>" not in html.text and "&lt;script&gt;" in html.text  # escaped, and no script of ours
    assert re.search(r'<meta property="og:video" content="[^"]+/files/shares/', html.text)
    for tag in ("og:title", "og:type", "og:video", "twitter:card", "twitter:player"):
        assert f'"{tag}"' in html.text
    assert re.search(r"<video[^>]+controls", html.text)
    # The video is a signed link of bounded life, made for each request, that plays.
    video = public.get(data["video_url"])
    assert video.status_code == 200 and video.content.startswith(b"\x00\x00\x00\x18ftyp")
    expires = int(re.search(r"expires=(\d+)", data["video_url"]).group(1))
    import time

    assert 0 < expires - time.time() <= shares.SHARE_VIDEO_SECONDS
    public.close()


def test_dead_links_answer_404_at_once_revoked_deleted_expired_or_unknown(api, stack):
    token = api.token()
    public = httpx.Client(base_url=stack.url, timeout=30)

    def alive(share_id: str) -> tuple[int, int]:
        answers = public.get(f"/s/{share_id}").status_code, public.get(f"/s/{share_id}.json").status_code
        # The link's copy of the video lives exactly as long as the link.
        assert stack.services.storage.exists(shares.copy_path(share_id)) is (answers == (200, 200)), share_id
        return answers

    revoked = finished(stack, token)
    link = share(api, token, revoked).json()["share_id"]
    assert alive(link) == (200, 200)
    r = api.http.delete(f"/generations/{revoked}/share", headers=api.auth(token))
    assert r.status_code == 204 and r.content == b""
    assert alive(link) == (404, 404)
    assert api.status(token, revoked).json()["share_url"] is None
    assert api.http.delete(f"/generations/{revoked}/share", headers=api.auth(token)).status_code == 204
    relinked = share(api, token, revoked)
    assert relinked.status_code == 201 and relinked.json()["share_id"] != link  # a new link; the old stays dead
    assert alive(link) == (404, 404)

    deleted = finished(stack, token)
    link = share(api, token, deleted).json()["share_id"]
    api.http.delete(f"/generations/{deleted}", headers=api.auth(token))
    assert alive(link) == (404, 404)

    expired = finished(stack, token, days_ago=40)
    link = share(api, token, expired).json()["share_id"]
    retention.expire(stack.services, Counter(), batch=100)
    assert alive(link) == (404, 404)
    assert api.status(token, expired).json()["share_url"] is None

    for unknown in ("A" * 22, "nope", "../../etc", "%00"):
        assert public.get(f"/s/{unknown}").status_code == 404
    assert_error(public.get(f"/s/{'B' * 22}.json"), 404, "not_found")
    public.close()


def test_only_the_owner_shares_and_only_a_kept_succeeded_video(api, stack):
    owner, other = api.token(), api.token()
    gid = finished(stack, owner)
    assert_error(share(api, other, gid), 404, "not_found")
    assert_error(api.http.delete(f"/generations/{gid}/share", headers=api.auth(other)), 404, "not_found")
    assert_error(share(api, owner, str(uuid.uuid4())), 404, "not_found")
    assert_error(share(api, owner, finished(stack, owner, status="failed")), 409, "invalid_state")
    assert_error(share(api, owner, finished(stack, owner, video=None)), 409, "invalid_state")  # not stored yet
    assert_error(api.http.post(f"/generations/{gid}/share"), 401, "unauthorized")
    link = share(api, owner, gid).json()["share_id"]
    api.http.delete(f"/generations/{gid}/share", headers=api.auth(other))  # refused above: still alive
    assert httpx.get(f"{stack.url}/s/{link}.json").status_code == 200


def test_views_are_counted_in_memory_and_added_in_batches(api, stack, db):
    token = api.token()
    link = share(api, token, finished(stack, token)).json()["share_id"]
    stack.services.library.views.flush_seconds = 3600  # no flush on the request path during this test
    for _ in range(3):
        assert httpx.get(f"{stack.url}/s/{link}").status_code == 200
    assert httpx.get(f"{stack.url}/s/{link}.json").json()["views"] == 4  # this container's count
    assert db.execute("select views from public.shares where id = %s", (link,)).fetchone()[0] == 0
    assert stack.services.library.views.flush(stack.services) == 4
    assert db.execute("select views from public.shares where id = %s", (link,)).fetchone()[0] == 4
    assert httpx.get(f"{stack.url}/s/{link}.json").json()["views"] == 5
    # Past its period, a view starts a flush in the background (off the request's path).
    stack.services.library.views.flush_seconds = 0
    httpx.get(f"{stack.url}/s/{link}")
    wait_for(lambda: db.execute("select views from public.shares where id = %s", (link,)).fetchone()[0] == 6)


def test_public_routes_are_rate_limited_per_client_address(api, stack):
    token = api.token()
    link = share(api, token, finished(stack, token)).json()["share_id"]
    limiter = stack.services.library.limiter
    limiter.per_minute, limiter.window = 3, 0
    answers = [httpx.get(f"{stack.url}/s/{link}.json").status_code for _ in range(3)]
    refused = httpx.get(f"{stack.url}/s/{link}")
    if limiter.window * 60 + 60 - __import__("time").time() < 1:  # the minute turned over meanwhile
        pytest.skip("the window ended during the test")
    assert answers == [200, 200, 200]
    body = assert_error(refused, 429, "rate_limited")
    assert int(refused.headers["retry-after"]) >= 1 and body["retry_after"] >= 1
    assert_error(httpx.get(f"{stack.url}/s/{'C' * 22}"), 429, "rate_limited")  # unknown ids count too
    # Signed-in routes have their own per-user limits: the owner is not refused.
    assert api.status(token, finished(stack, token)).status_code == 200


# --- the bulk download -----------------------------------------------------------------------------

def download(api: Api, token: str, ids: list[str], **kwargs) -> httpx.Response:
    return api.http.post("/generations/download", json={"generation_ids": ids}, headers=api.auth(token), **kwargs)


def test_a_zip_of_mixed_ids_holds_the_kept_videos_stored_and_a_manifest_for_every_id(api, stack):
    token, other = api.token(), api.token()
    one = finished(stack, token, video=b"first video " * 1000)
    two = finished(stack, token, video=b"second video " * 500)
    failed = finished(stack, token, status="failed")
    expired = finished(stack, token, days_ago=40)
    retention.expire(stack.services, Counter(), batch=100)
    theirs = finished(stack, other)
    unknown = str(uuid.uuid4())
    asked = [one, failed, theirs, unknown, expired, two, one]  # a repeated id is listed once
    r = download(api, token, asked)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"].startswith("attachment; filename=")
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    assert archive.testzip() is None
    assert archive.namelist() == [f"{one}.mp4", f"{two}.mp4", "manifest.json"]
    assert archive.read(f"{one}.mp4") == b"first video " * 1000
    assert archive.read(f"{two}.mp4") == b"second video " * 500
    assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}  # no recompression
    assert json.loads(archive.read("manifest.json")) == [
        {"generation_id": one, "included": True, "reason": None},
        {"generation_id": failed, "included": False, "reason": "not_succeeded"},
        {"generation_id": theirs, "included": False, "reason": "not_found"},
        {"generation_id": unknown, "included": False, "reason": "not_found"},
        {"generation_id": expired, "included": False, "reason": "expired"},
        {"generation_id": two, "included": True, "reason": None},
    ]


def test_a_download_asks_for_1_to_50_ids_of_a_signed_in_user(api, stack):
    token = api.token()
    assert_error(download(api, token, []), 422, "invalid_request")
    assert_error(download(api, token, [str(uuid.uuid4()) for _ in range(51)]), 422, "invalid_request")
    assert_error(download(api, token, ["nope"]), 422, "invalid_request")
    assert_error(api.http.post("/generations/download", json={"generation_ids": [str(uuid.uuid4())]}), 401, "unauthorized")
    only_unknown = download(api, token, [str(uuid.uuid4())])  # nothing to include: a zip with the manifest
    assert zipfile.ZipFile(io.BytesIO(only_unknown.content)).namelist() == ["manifest.json"]


def test_a_download_over_the_limit_is_a_422_naming_it_before_any_byte(api, stack):
    token = api.token()
    ids = [finished(stack, token, video=b"x" * 4000) for _ in range(3)]
    svc = stack.services
    svc.settings = svc.settings.model_copy(update={"download_max_bytes": 10_000})
    try:
        body = assert_error(download(api, token, ids), 422, "invalid_request")
        assert body["errors"][0]["field"] == "generation_ids" and "MB" in body["detail"]
        assert download(api, token, ids[:2]).status_code == 200
    finally:
        svc.settings = svc.settings.model_copy(update={"download_max_bytes": 600 * 1024 * 1024})


class _GatedStorage:
    """The stack's storage, except that reading `gated` waits until the test lets it: proof that the
    answer starts before the last file is read (were the zip built first, the test would time out)."""

    def __init__(self, inner, gated: str):
        self.inner, self.gated, self.gate = inner, gated, threading.Event()

    def read(self, path):
        if path == self.gated:
            assert self.gate.wait(30), "the zip's first bytes never reached the client"
        yield from self.inner.read(path)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_the_zip_starts_before_its_last_file_is_read_and_memory_stays_bounded(api, stack, tmp_path):
    token = api.token()
    user = _user_of(stack, token)
    size = 48 * 1024 * 1024
    ids = []
    for i in range(6):  # 6 x 48 MB videos (sparse files: cheap to make, read as zeros)
        gid = finished(stack, token, video=b"")
        path = f"videos/{user}/{gid}.mp4"
        with open(stack.services.storage._file(path), "r+b") as f:
            f.truncate(size)
            f.write(f"video {i}".encode())
        ids.append(gid)
    svc = stack.services
    real = svc.storage
    svc.storage = _GatedStorage(real, f"videos/{user}/{ids[-1]}.mp4")
    try:
        _rss_peak_reset()
        before = _rss_peak_mb()
        received = 0
        with api.http.stream("POST", "/generations/download", json={"generation_ids": ids},
                             headers=api.auth(token)) as r:
            assert r.status_code == 200
            for chunk in r.iter_bytes():
                received += len(chunk)
                if received > 1024 * 1024:
                    svc.storage.gate.set()  # the first megabyte is here: the last file may be read now
        growth = _rss_peak_mb() - before
    finally:
        svc.storage = real
    assert received > 6 * size
    # Client and server share this process: the whole 288 MB zip, or even one 48 MB video, held at
    # once would show here. Measured: a few MB.
    assert growth < 40, f"peak memory grew by {growth:.0f} MB while streaming {received >> 20} MB"


def _rss_peak_reset() -> None:
    with open("/proc/self/clear_refs", "w") as f:  # "5": reset the peak resident set size (Linux ≥ 4.0)
        f.write("5")


def _rss_peak_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_concurrent_shares_of_one_generation_make_one_link(api, stack):
    from tests.support import run_at_once

    token = api.token()
    gid = finished(stack, token)
    answers = run_at_once(6, lambda i: share(api, token, gid))
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201]
    assert len({a.json()["share_id"] for a in answers}) == 1
    assert len(list((stack.data_dir / "storage" / "shares").iterdir())) == 1  # one copy of the video


@pytest.mark.parametrize(("settings", "base"), [
    pytest.param({"share_base_url": "https://example.com/x/"}, "https://example.com/x", id="set"),
    pytest.param({"public_base_url": "http://127.0.0.1:8000"}, "http://127.0.0.1:8000", id="local"),
    pytest.param({"webhook_url": "https://me--wan-video-api-replicate-webhook.modal.run"},
                 "https://me--wan-video-api-account.modal.run", id="modal"),
    pytest.param({"webhook_url": "https://me-staging--wan-video-api-replicate-webhook.modal.run/"},
                 "https://me-staging--wan-video-api-account.modal.run", id="modal-environment"),
    pytest.param({"webhook_url": "https://hooks.example.com/replicate"}, "", id="elsewhere"),
])
def test_share_links_start_at_the_account_functions_url(settings, base):
    made = Settings(_env_file=None, **settings)
    assert shares.link_base(made) == base
    assert shares.share_url(made, "abc") == f"{base}/s/abc"
