"""The last frame of a stored video (for extend), decoded with PyAV (FFmpeg), bounded in size,
memory and time.

The frame is found as a player finds it: seek to the last keyframe before the end, decode forward,
keep only the newest frame (one decoded picture in memory at a time, plus the codec's own
reference frames). A file that is not a video, has no video stream, is too large, or takes longer
than DECODE_SECONDS is `Undecodable`. `scripts/bench --only last-frame` measures it on a 10 s 1080p
H.264 file against the same steps written by hand with PyAV.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MAX_VIDEO_BYTES = 512 * 1024 * 1024   # what a video copy accepts (shared/video_copy.py spools it)
MAX_SIDE = 4096                       # the largest first image an upload may be (shared/images.py)
DECODE_SECONDS = 20.0                 # a 10 s 1080p video takes well under 1 s (bench); this is a guard
# One decode at a time per process, on a thread of its own: decodes cost memory (a 1080p picture is
# 3 MB, the codec keeps several), and glibc keeps each thread's freed memory in that thread's arena
# (the same reasoning as shared/images.py).
_decoder = ThreadPoolExecutor(1, thread_name_prefix="video-decode")


class Undecodable(Exception):
    """The stored video cannot give a last frame (say why in one sentence)."""


def probe(path: Path) -> tuple[int, int] | None:
    """(width, height) of the first video stream from the container's header (nothing is decoded),
    or None when the file cannot be read as a video."""
    import av

    try:
        with av.open(str(path), mode="r") as container:
            stream = next((s for s in container.streams if s.type == "video"), None)
            return (stream.codec_context.width, stream.codec_context.height) if stream else None
    except (av.FFmpegError, ValueError, OSError, IndexError):
        return None


def last_frame_png(path: Path, *, deadline_seconds: float = DECODE_SECONDS) -> tuple[bytes, int, int]:
    """(PNG bytes, width, height) of the video's last frame."""
    return _decoder.submit(_last_frame_png, Path(path), deadline_seconds).result()


def _last_frame_png(path: Path, deadline_seconds: float) -> tuple[bytes, int, int]:
    import av

    size = path.stat().st_size
    if size == 0:
        raise Undecodable("the video file is empty")
    if size > MAX_VIDEO_BYTES:
        raise Undecodable(f"the video is larger than {MAX_VIDEO_BYTES // (1024 * 1024)} MB")
    started = time.monotonic()
    try:
        with av.open(str(path), mode="r") as container:
            stream = next((s for s in container.streams if s.type == "video"), None)
            if stream is None:
                raise Undecodable("the file has no video stream")
            width, height = stream.codec_context.width, stream.codec_context.height
            if max(width, height) > MAX_SIDE or min(width, height) < 1:
                raise Undecodable(f"the video is {width}x{height}; at most {MAX_SIDE} pixels a side")
            frame = _decode_from_last_keyframe(container, stream, started, deadline_seconds)
            if frame is None:  # a seek past what the index knows: decode from the start instead
                container.seek(0)
                frame = _newest_frame(container, stream, started, deadline_seconds)
            if frame is None:
                raise Undecodable("the video has no frame that can be decoded")
            return _png(frame.reformat(format="rgb24")), frame.width, frame.height
    except Undecodable:
        raise
    except (av.FFmpegError, ValueError, OSError, IndexError) as exc:
        raise Undecodable(f"the video cannot be decoded ({type(exc).__name__})") from None


def _png(rgb) -> bytes:
    """Lossless (the pixels Replicate gets are the frame's), by FFmpeg's PNG encoder unfiltered and
    stored, not deflated, up to 1080p: 0.05 s for a 1080p frame where Pillow's level-1 PNG took 0.7 s
    (`scripts/bench --only last-frame`), for 6 MB instead of 3; larger frames are deflated."""
    import av

    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = rgb.width, rgb.height, "rgb24"
    stored = rgb.width * rgb.height <= 1920 * 1088
    codec.options = {"compression_level": "0" if stored else "1", "pred": "none" if stored else "paeth"}
    return b"".join(bytes(packet) for packet in [*codec.encode(rgb), *codec.encode(None)])


def _decode_from_last_keyframe(container, stream, started: float, deadline: float):
    end = stream.duration
    if end is not None:
        container.seek((stream.start_time or 0) + end, stream=stream, backward=True, any_frame=False)
    elif container.duration:
        container.seek(container.duration, backward=True, any_frame=False)  # in AV_TIME_BASE units
    return _newest_frame(container, stream, started, deadline)


def _newest_frame(container, stream, started: float, deadline: float):
    newest = None
    for frame in container.decode(stream):
        newest = frame  # the previous one is freed: one picture kept
        if time.monotonic() - started > deadline:
            raise Undecodable(f"decoding took longer than {deadline:g} seconds")
    return newest
