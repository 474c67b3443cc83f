"""shared/video_frames.py: the last frame of a real video, exactly, and a clear Undecodable for
everything else, bounded in bytes and time; plus the emulator's published schemas of the new models."""

from __future__ import annotations

import io

import av
import pytest
from PIL import Image

from shared import catalog, video_frames
from wan_local import sample_video
from wan_local.replicate_emulator import ReplicateEmulator


def by_hand(mp4: bytes) -> Image.Image:
    with av.open(io.BytesIO(mp4)) as container:
        return [frame.to_image() for frame in container.decode(video=0)][-1]


@pytest.mark.parametrize("ratio, frames", [("16:9", 81), ("9:16", 160), ("1:1", 17)])
def test_the_last_frame_is_the_videos_last_frame_pixel_for_pixel(tmp_path, ratio, frames):
    mp4 = sample_video.make_mp4(ratio, frames)
    path = tmp_path / "v.mp4"
    path.write_bytes(mp4)
    png, width, height = video_frames.last_frame_png(path)
    image = Image.open(io.BytesIO(png))
    assert (image.format, image.mode, image.size) == ("PNG", "RGB", (width, height))
    assert (width, height) == sample_video.SIZES[ratio]
    assert image.tobytes() == by_hand(mp4).tobytes()
    assert video_frames.probe(path) == (width, height)


def test_the_sample_videos_have_the_asked_length_and_change(tmp_path):
    for frames in (81, 160):
        with av.open(io.BytesIO(sample_video.make_mp4("16:9", frames))) as container:
            decoded = [f.to_image().tobytes() for f in container.decode(video=0)]
        assert len(decoded) == frames and decoded[0] != decoded[-1]
    assert sample_video.frames_for({"duration": 10}) == 160
    assert sample_video.frames_for({"num_frames": 121}) == 121
    assert sample_video.frames_for({}) == 81


@pytest.mark.parametrize("content, why", [
    (b"", "empty"),
    (b"this is not a video at all" * 100, "cannot be decoded"),
    (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 500, "cannot be decoded"),
])
def test_what_is_not_a_video_is_undecodable(tmp_path, content, why):
    path = tmp_path / "v.mp4"
    path.write_bytes(content)
    with pytest.raises(video_frames.Undecodable, match=why):
        video_frames.last_frame_png(path)
    assert content == b"" or video_frames.probe(path) is None


def test_a_truncated_video_is_undecodable(tmp_path):
    mp4 = sample_video.make_mp4("16:9", 81)
    path = tmp_path / "v.mp4"
    path.write_bytes(mp4[: len(mp4) // 3])  # the index (moov) is written at the end: gone
    with pytest.raises(video_frames.Undecodable):
        video_frames.last_frame_png(path)


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path, monkeypatch):
    path = tmp_path / "v.mp4"
    path.write_bytes(sample_video.make_mp4("16:9", 81))
    monkeypatch.setattr(video_frames, "MAX_VIDEO_BYTES", 1000)
    with pytest.raises(video_frames.Undecodable, match="larger than"):
        video_frames.last_frame_png(path)


def test_a_decode_past_its_deadline_stops(tmp_path):
    path = tmp_path / "v.mp4"
    path.write_bytes(sample_video.make_mp4("16:9", 81))
    with pytest.raises(video_frames.Undecodable, match="longer than"):
        video_frames.last_frame_png(path, deadline_seconds=0)


def test_the_emulator_publishes_each_models_schema_from_the_catalog():
    from fastapi.testclient import TestClient

    client = TestClient(ReplicateEmulator().app)
    schema = client.get("/v1/models/wan-video/wan-2.2-i2v-fast", headers={"Authorization": "Bearer r8"}).json()[
        "latest_version"]["openapi_schema"]["components"]["schemas"]
    props = schema["Input"]["properties"]
    assert {"image", "last_image", "num_frames", "resolution"} <= set(props) and "aspect_ratio" not in props
    assert (props["num_frames"]["minimum"], props["num_frames"]["maximum"]) == (81, 121)
    assert schema["resolution"]["enum"] == ["480p", "720p"]
    wan25 = client.get("/v1/models/wan-video/wan-2.5-i2v", headers={"Authorization": "Bearer r8"}).json()
    assert wan25["latest_version"]["openapi_schema"]["components"]["schemas"]["duration"]["enum"] == [5, 10]
    assert client.get("/v1/models/wan-video/wan-2.5-t2v", headers={"Authorization": "Bearer r8"}).status_code == 404
    # Every value we sell is one the published schema takes.
    for v in catalog.VARIANTS:
        published = client.get(f"/v1/models/{v.replicate_model}", headers={"Authorization": "Bearer r8"}).json()
        components = published["latest_version"]["openapi_schema"]["components"]["schemas"]
        for name, value in v.fixed_input:
            assert value in components[name]["enum"], (v, name)
