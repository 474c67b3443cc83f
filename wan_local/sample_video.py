"""Real, small H.264 videos for the Replicate emulator's outputs, made with PyAV (bundled FFmpeg).

Each is of the asked shape (aspect ratio) and length (frames at the Wan models' 16 fps), plays in
Chromium (yuv420p, faststart-free MP4 is fine for a file URL), and changes colour from frame to
frame, so its last frame differs from its first: extend's tests decode them for real. Frames are
small (the shape is all a test needs), and each (shape, length) is made once per process.
"""

from __future__ import annotations

import colorsys
import io
from functools import lru_cache

FPS = 16                      # Wan 2.1/2.2 on Replicate write 16 fps by default
SIZES = {"16:9": (320, 180), "9:16": (180, 320), "1:1": (240, 240)}  # even sides: yuv420p needs them


def frames_for(model_input: dict) -> int:
    """How many frames a prediction of this input makes: `duration` seconds, else `num_frames`,
    else the Wan default of 81 frames (about 5 s at 16 fps)."""
    duration = model_input.get("duration")
    if isinstance(duration, int) and not isinstance(duration, bool) and duration > 0:
        return duration * FPS
    frames = model_input.get("num_frames")
    if isinstance(frames, int) and not isinstance(frames, bool) and frames > 0:
        return frames
    return 81


@lru_cache(maxsize=32)
def make_mp4(ratio: str, frames: int) -> bytes:
    """An H.264 MP4 of `frames` frames at FPS in the shape of `ratio` (16:9 when unknown)."""
    import av
    from PIL import Image, ImageDraw

    width, height = SIZES.get(ratio, SIZES["16:9"])
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23"}
        for i in range(frames):
            hue = i / max(frames - 1, 1) * 0.8  # red at the start, through the hues, to violet at the end
            colour = tuple(int(c * 255) for c in colorsys.hsv_to_rgb(hue, 0.8, 0.9))
            image = Image.new("RGB", (width, height), colour)
            x = int((width - 16) * i / max(frames - 1, 1))  # a white square crossing the frame
            ImageDraw.Draw(image).rectangle((x, height // 2 - 8, x + 15, height // 2 + 7), fill=(255, 255, 255))
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()
