"""Retention (the sweep deletes stored videos and uploaded images RETENTION_DAYS after their
generation finished) and the user's delete of finished generations (soft: the ledger keeps its rows)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import psycopg
import pytest

from shared import retention
from shared.credits import NewGeneration
from shared.db import PostgresBackend
from shared.replicate_provider import ReplicateProvider
from shared.services import Services
from shared.settings import Settings
from shared.storage import LocalStorage
from shared.sweep import sweep
from tests.support import assert_error, ledger, make_user, run_at_once, wait_for


class RecordingStorage(LocalStorage):
    """The local storage, also recording each delete call (to prove no file is deleted twice)."""

    def __init__(self, *args, fail: bool = False):
        super().__init__(*args)
        self.deleted: list[str] = []
        self.fail = fail

    def delete(self, paths):
        if self.fail:
            raise OSError("storage is down")
        self.deleted += paths
        super().delete(paths)


@pytest.fixture
def svc(db_url, tmp_path):
    settings = Settings(_env_file=None, database_url=db_url, replicate_api_token="unused", retention_days=30)
    services = Services(settings, PostgresBackend(db_url, max_size=10),
                        ReplicateProvider("unused", "http://127.0.0.1:9", timeout_seconds=1),
                        RecordingStorage(tmp_path / "storage", "http://127.0.0.1:9", b"k"))
    yield services
    services.close()


def _finished(db, svc, user, *, days_ago: float, image: str | None = None, status: str = "succeeded",
              retry_of: str | None = None) -> dict:
    """A finished generation whose files are stored, finished `days_ago` days ago."""
    gen = svc.credits.create_generation(NewGeneration(
        user_id=user, kind="image-to-video" if image else "text-to-video", model="i2v-14B" if image else "t2v-14B",
        resolution="480p", prompt="p", cost=10, max_active=100, image_path=image, retry_of=retry_of))
    gid = gen["generation_id"]
    if image:
        svc.storage.put(image, b"png", "image/png")
    svc.backend.call("record_prediction", p_gen_id=gid, p_replicate_id=f"p-{gid}", p_status=status,
                     p_output_url="https://replicate.delivery/x.mp4" if status == "succeeded" else None)
    if status == "succeeded":
        path = f"videos/{user}/{gid}.mp4"
        svc.storage.put(path, b"mp4", "video/mp4")
        svc.backend.call("record_video_copy", p_gen_id=gid, p_video_path=path)
    db.execute("update public.generations set completed_at = now() - make_interval(days => %s), "
               "created_at = now() - make_interval(days => %s) - interval '1 minute' where id = %s",
               (days_ago, days_ago, gid))
    return svc.backend.call("generation_by_id", p_gen_id=gid)


def _stored(svc, path) -> bool:
    return svc.storage.exists(path)


def test_retention_deletes_old_files_in_bounded_batches_and_keeps_recent_ones(db, svc):
    user = make_user(db)
    old = [_finished(db, svc, user, days_ago=31 + i) for i in range(3)]
    recent = _finished(db, svc, user, days_ago=29)
    first = sweep(svc, batch=2)                     # 3 expired, batch of 2: two now, one next time
    assert (first["retention_expired"], first["retention_files_deleted"]) == (2, 2)
    second = sweep(svc, batch=2)
    assert second["retention_expired"] == 1
    third = sweep(svc, batch=2)
    assert third["retention_expired"] == 0          # nothing left to do: the rule claims nothing
    assert not any(_stored(svc, g["video_path"]) for g in old)
    assert _stored(svc, recent["video_path"])
    expired = db.execute("select count(*) from public.generations where video_deleted_at is not null").fetchone()[0]
    assert expired == 3
    assert sorted(svc.storage.deleted) == sorted(g["video_path"] for g in old)  # each once


def test_a_file_already_gone_is_not_an_error(db, svc):
    user = make_user(db)
    gen = _finished(db, svc, user, days_ago=40)
    (svc.storage.root / gen["video_path"]).unlink()
    counts = sweep(svc)
    assert (counts["retention_expired"], counts["errors"], counts["retention_failed"]) == (1, 0, 0)
    assert svc.backend.call("generation_by_id", p_gen_id=gen["generation_id"])["expired"] is True


def test_storage_down_leaves_the_rows_for_the_next_sweep(db, svc):
    user = make_user(db)
    gen = _finished(db, svc, user, days_ago=40)
    svc.storage.fail = True
    assert sweep(svc)["retention_failed"] == 1
    assert svc.backend.call("generation_by_id", p_gen_id=gen["generation_id"])["expired"] is False
    svc.storage.fail = False
    db.execute("update public.generations set sweep_claimed_at = null")  # the lease ran out
    assert sweep(svc)["retention_expired"] == 1
    assert not _stored(svc, gen["video_path"])


def test_overlapping_sweeps_delete_each_file_once(db, svc):
    user = make_user(db)
    gens = [_finished(db, svc, user, days_ago=35) for _ in range(9)]
    results = run_at_once(4, lambda i: sweep(svc, batch=3))
    assert not any(isinstance(r, Exception) for r in results), results
    assert sum(r.get("retention_expired", 0) for r in results) <= 9
    while sweep(svc, batch=3).get("retention_expired"):  # what the lease kept for later
        pass
    assert sorted(svc.storage.deleted) == sorted(g["video_path"] for g in gens)  # no path twice
    assert db.execute("select count(*) from public.generations where video_deleted_at is null").fetchone()[0] == 0


def test_a_retried_image_stays_until_its_last_holder_expires(db, svc):
    user = make_user(db)
    image = f"images/{user}/frame.png"
    first = _finished(db, svc, user, days_ago=40, image=image, status="failed")
    retry = _finished(db, svc, user, days_ago=10, image=image, status="failed", retry_of=first["generation_id"])
    sweep(svc)
    assert _stored(svc, image)                       # the retry can still be retried: image kept
    assert svc.backend.call("generation_by_id", p_gen_id=first["generation_id"])["image_expired"] is True
    db.execute("update public.generations set completed_at = now() - interval '31 days' where id = %s",
               (retry["generation_id"],))
    assert sweep(svc)["retention_files_deleted"] == 1
    assert not _stored(svc, image)


def test_an_expired_image_cannot_be_retried(db, svc):
    from shared import errors, generations

    user = make_user(db)
    gen = _finished(db, svc, user, days_ago=40, image=f"images/{user}/a.png", status="failed")
    sweep(svc)
    with pytest.raises(errors.InvalidState):
        generations.retry(svc, user, gen["generation_id"], idempotency_key=None)


def test_status_of_an_expired_video_is_null_and_expired(stack, api):
    token, gen_id, pid = api.start_generation()
    stack.emulator.finish(pid, "succeeded")
    wait_for(lambda: api.status(token, gen_id).json()["video_url"].startswith(stack.url))
    path = stack.services.backend.call("generation_by_id", p_gen_id=gen_id)["video_path"]
    assert stack.services.storage.exists(path)
    with psycopg.connect(stack.settings.database_url, autocommit=True) as conn:  # the owner: test setup
        conn.execute("update public.generations set completed_at = now() - interval '31 days' where id = %s", (gen_id,))
    assert sweep(stack.services)["retention_expired"] == 1
    body = api.status(token, gen_id).json()
    assert (body["status"], body["video_url"], body["expired"]) == ("succeeded", None, True)
    assert not stack.services.storage.exists(path)
    item = api.http.get("/generations", headers=api.auth(token)).json()["items"][0]
    assert (item["video_url"], item["expired"]) == (None, True)


# --- the user's delete ------------------------------------------------------------------------------

def _finished_over_http(stack, api, token=None, status="succeeded"):
    token, gen_id, pid = api.start_generation(token)
    stack.emulator.finish(pid, status, None if status == "succeeded" else "emulated failure")
    if status == "succeeded":
        wait_for(lambda: (api.status(token, gen_id).json()["video_url"] or "").startswith(stack.url))
    else:
        wait_for(lambda: api.status(token, gen_id).json()["terminal"])
    return token, gen_id


def test_delete_own_finished_generation_removes_it_and_its_video_but_keeps_the_ledger(stack, api):
    token, gen_id = _finished_over_http(stack, api)
    path = stack.services.backend.call("generation_by_id", p_gen_id=gen_id)["video_path"]
    before = api.credits(token)
    answer = api.http.delete(f"/generations/{gen_id}", headers=api.auth(token))
    assert answer.status_code == 200 and answer.json() == {"generation_id": gen_id, "deleted": True}
    assert not stack.services.storage.exists(path)
    assert api.http.get("/generations", headers=api.auth(token)).json()["items"] == []
    assert_error(api.status(token, gen_id), 404, "not_found")
    after = api.credits(token)
    assert after["balance"] == before["balance"] == 90
    assert [t["id"] for t in after["transactions"]] == [t["id"] for t in before["transactions"]]
    charge = next(t for t in after["transactions"] if t["type"] == "deduction")
    assert charge["generation_id"] == gen_id and charge["generation_deleted"] is True
    assert_error(api.http.delete(f"/generations/{gen_id}", headers=api.auth(token)), 404, "not_found")
    assert_error(api.http.post("/cancel", json={"generation_id": gen_id}, headers=api.auth(token)), 404, "not_found")
    assert_error(api.http.post("/retry", json={"generation_id": gen_id}, headers=api.auth(token)), 404, "not_found")


def test_delete_of_someone_elses_generation_is_404_and_changes_nothing(stack, api):
    _, gen_id = _finished_over_http(stack, api)
    other = api.token()
    assert_error(api.http.delete(f"/generations/{gen_id}", headers=api.auth(other)), 404, "not_found")
    assert stack.services.backend.call("generation_by_id", p_gen_id=gen_id)["deleted"] is False


def test_delete_of_an_unfinished_generation_is_409(stack, api):
    token, gen_id, _ = api.start_generation()
    assert_error(api.http.delete(f"/generations/{gen_id}", headers=api.auth(token)), 409, "invalid_state")
    assert api.status(token, gen_id).json()["status"] == "processing"


def test_batch_delete_answers_for_each_id(stack, api, tmp_path):
    token, done = _finished_over_http(stack, api)
    _, failed = _finished_over_http(stack, api, token, status="failed")
    _, running, _ = api.start_generation(token)
    _, others = _finished_over_http(stack, api)
    unknown = "00000000-0000-4000-8000-000000000000"
    answer = api.http.post("/generations/delete", headers=api.auth(token),
                           json={"generation_ids": [done, failed, running, others, unknown, done]})
    assert answer.status_code == 200
    body = answer.json()
    assert body["deleted"] == [done, failed]
    assert [(e["generation_id"], e["code"]) for e in body["errors"]] == [
        (running, "invalid_state"), (others, "not_found"), (unknown, "not_found")]
    listed = [g["generation_id"] for g in api.http.get("/generations", headers=api.auth(token)).json()["items"]]
    assert listed == [running]
    # the failed one's refund stays in the ledger
    assert any(t["type"] == "refund" and t["generation_id"] == failed for t in api.credits(token)["transactions"])


@pytest.mark.parametrize("body", [
    pytest.param({"generation_ids": []}, id="empty"),
    pytest.param({"generation_ids": ["00000000-0000-4000-8000-000000000000"] * 101}, id="over_100"),
    pytest.param({"generation_ids": ["nope"]}, id="not_a_uuid"),
    pytest.param({}, id="missing"),
])
def test_batch_delete_refuses_a_bad_body(api, body):
    token = api.token()
    assert_error(api.http.post("/generations/delete", headers=api.auth(token), json=body), 422, "invalid_request")


def test_a_failed_file_removal_on_delete_is_finished_by_the_sweep(db, svc):
    user = make_user(db)
    gen = _finished(db, svc, user, days_ago=1)
    svc.storage.fail = True
    answer = retention.delete(svc, user, [gen["generation_id"]])
    assert answer == {"deleted": [gen["generation_id"]], "errors": []}
    assert _stored(svc, gen["video_path"])
    svc.storage.fail = False
    db.execute("update public.generations set deleted_at = now() - interval '10 minutes', sweep_claimed_at = null")
    counts = Counter(sweep(svc))
    assert counts["retention_expired"] == 1 and not _stored(svc, gen["video_path"])
    assert ledger(db, user)[-1][0] == "deduction"   # the charge row is still there
