"""Supabase Storage, the production home of images and videos: the client's requests over real HTTP
against recorded Storage API answers on loopback (no Storage server runs here)."""

from __future__ import annotations

import pytest

from shared.storage import SupabaseStorage
from tests.support import RecordedHttp

KEY = "sb_secret_storage_test_0123456789"


@pytest.fixture
def storage_api():
    fake = RecordedHttp()
    yield fake
    fake.close()


@pytest.fixture
def storage(storage_api):
    from shared.db import SupabaseBackend

    return SupabaseStorage(SupabaseBackend.connect(storage_api.url, KEY).client, "wan-media")


def test_put_uploads_with_upsert_so_a_retried_copy_overwrites_itself(storage_api, storage):
    storage_api.answers[("POST", "/storage/v1/object/wan-media/videos/u1/g1.mp4")] = (
        200, {"Key": "wan-media/videos/u1/g1.mp4", "Id": "x"})
    storage.put("videos/u1/g1.mp4", b"\x00\x00\x00\x18ftypmp42", "video/mp4")
    upload = storage_api.requests[0]
    assert upload["headers"]["x-upsert"] == "true"
    assert upload["headers"]["authorization"] == f"Bearer {KEY}"
    assert b"ftypmp42" in upload["body"]


def test_signed_urls_point_at_the_storage_api_and_expire(storage_api, storage):
    storage_api.answers[("POST", "/storage/v1/object/sign/wan-media/videos/u1/g1.mp4")] = (
        200, {"signedURL": "/object/sign/wan-media/videos/u1/g1.mp4?token=t1"})
    storage_api.answers[("POST", "/storage/v1/object/sign/wan-media")] = (200, [
        {"path": "videos/u1/g2.mp4", "signedURL": "/object/sign/wan-media/videos/u1/g2.mp4?token=t2", "error": None},
        {"path": "videos/u1/g1.mp4", "signedURL": "/object/sign/wan-media/videos/u1/g1.mp4?token=t1", "error": None},
    ])
    one = storage.signed_url("videos/u1/g1.mp4", 3600)
    assert one == f"{storage_api.url}/storage/v1/object/sign/wan-media/videos/u1/g1.mp4?token=t1"
    assert storage_api.json(0) == {"expiresIn": "3600"}
    many = storage.signed_urls(["videos/u1/g1.mp4", "videos/u1/g2.mp4"], 3600)
    assert many == [f"{storage_api.url}/storage/v1/object/sign/wan-media/videos/u1/g{n}.mp4?token=t{n}" for n in (1, 2)]
    assert storage_api.json(1)["paths"] == ["videos/u1/g1.mp4", "videos/u1/g2.mp4"]
    assert len(storage_api.requests) == 2  # one request for the whole page


def test_delete_removes_objects_through_the_storage_api_in_batches(storage_api, storage, monkeypatch):
    import shared.storage

    monkeypatch.setattr(shared.storage, "DELETE_BATCH", 2)
    # Storage answers with the objects it removed; one already gone is simply missing, not an error.
    storage_api.answers[("DELETE", "/storage/v1/object/wan-media")] = (200, [{"name": "videos/u1/g1.mp4"}])
    storage.delete(["videos/u1/g1.mp4", "images/u1/a.png", "videos/u1/g2.mp4"])
    assert [r["method"] for r in storage_api.requests] == ["DELETE", "DELETE"]
    assert storage_api.json(0) == {"prefixes": ["videos/u1/g1.mp4", "images/u1/a.png"]}
    assert storage_api.json(1) == {"prefixes": ["videos/u1/g2.mp4"]}
    assert storage_api.requests[0]["headers"]["authorization"] == f"Bearer {KEY}"


def test_the_librarys_calls_copy_size_and_a_streamed_read(storage_api, storage):
    # A share link's copy: one server-side copy request, no bytes through us.
    storage_api.answers[("POST", "/storage/v1/object/copy")] = (200, {"Key": "wan-media/shares/abc.mp4"})
    storage.copy("videos/u1/g1.mp4", "shares/abc.mp4")
    assert storage_api.json(0) == {"bucketId": "wan-media", "sourceKey": "videos/u1/g1.mp4",
                                   "destinationKey": "shares/abc.mp4"}
    # The zip's sizes, from the object's info; an object that is gone is None.
    storage_api.answers[("GET", "/storage/v1/object/info/wan-media/videos/u1/g1.mp4")] = (
        200, {"id": "x", "name": "videos/u1/g1.mp4", "size": 5242880, "content_type": "video/mp4"})
    assert storage.size("videos/u1/g1.mp4") == 5242880
    storage_api.answers[("GET", "/storage/v1/object/info/wan-media/videos/u1/gone.mp4")] = (
        404, {"statusCode": "404", "error": "not_found", "message": "Object not found"})
    assert storage.size("videos/u1/gone.mp4") is None
    # The read: a short-lived signed URL, fetched as a stream.
    storage_api.answers[("POST", "/storage/v1/object/sign/wan-media/videos/u1/g1.mp4")] = (
        200, {"signedURL": "/object/sign/wan-media/videos/u1/g1.mp4?token=t1"})
    storage_api.answers[("GET", "/storage/v1/object/sign/wan-media/videos/u1/g1.mp4")] = (200, {"bytes": "of the video"})
    assert b"".join(storage.read("videos/u1/g1.mp4")) == b'{"bytes": "of the video"}'
    assert storage_api.requests[-1]["method"] == "GET" and storage_api.requests[-2]["method"] == "POST"


def test_download_streams_an_object_through_a_signed_url_within_a_limit(storage_api, storage):
    import io

    from shared.storage import TooLarge

    storage_api.answers[("POST", "/storage/v1/object/sign/wan-media/videos/u1/g1.mp4")] = (
        200, {"signedURL": "/object/sign/wan-media/videos/u1/g1.mp4?token=t1"})
    storage_api.answers[("GET", "/storage/v1/object/sign/wan-media/videos/u1/g1.mp4")] = (200, ["the", "bytes"])
    into = io.BytesIO()
    storage.download_to("videos/u1/g1.mp4", into, limit=1000)
    assert into.getvalue() == b'["the", "bytes"]'  # what Storage sent, unchanged
    assert storage_api.requests[-1]["method"] == "GET" and storage_api.json(0) == {"expiresIn": "60"}
    with pytest.raises(TooLarge):
        storage.download_to("videos/u1/g1.mp4", io.BytesIO(), limit=5)
    storage_api.answers[("GET", "/storage/v1/object/sign/wan-media/videos/u1/g1.mp4")] = (
        400, {"statusCode": "404", "error": "not_found", "message": "Object not found"})
    with pytest.raises(FileNotFoundError):
        storage.download_to("videos/u1/g1.mp4", io.BytesIO(), limit=1000)
