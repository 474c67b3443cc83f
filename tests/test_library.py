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
