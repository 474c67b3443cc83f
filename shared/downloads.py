"""The bulk download (issue 25): POST /generations/download streams a zip of up to 50 of the caller's
kept videos and a manifest.json saying, for every id asked, whether it is in and why not.

- Stored entries (ZIP_STORED): an MP4 is already compressed, so the bytes go out as they were read.
- Streamed with the standard library's zipfile writing to a sink that cannot seek: zipfile then
  puts each entry's CRC and sizes in a data descriptor after its bytes, so nothing is held back.
  Each video is read from storage READ_CHUNK at a time (shared/storage.py) and each chunk is sent
  before the next is read: memory stays at a few chunks whatever the sizes, and the answer starts with
  the first file's first chunk.
- The sizes are asked of storage first: a zip over DOWNLOAD_MAX_BYTES is a 422 before a byte is sent,
  because a web function on Modal has 150 s to send it all (README "Bulk download").
- The manifest comes last, so a video that vanished between the check and its read (a racing
  delete or expiry) is listed as `expired` instead of being half in the zip.
"""

from __future__ import annotations

import json
import logging
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Iterator

from shared import errors
from shared.services import Services

log = logging.getLogger(__name__)

MAX_IDS = 50
SIZE_LOOKUPS_AT_ONCE = 8  # storage calls for the sizes, in parallel (Supabase: one request each)


@dataclass
class Download:
    entries: list[dict]  # download_list's rows, in the order asked, each with its "size" once known
    total_bytes: int


def prepare(svc: Services, user_id: uuid.UUID, generation_ids: list[uuid.UUID]) -> Download:
    """What the zip will hold, checked against DOWNLOAD_MAX_BYTES (a 422 above it)."""
    ids = list(dict.fromkeys(str(i) for i in generation_ids))
    entries = svc.backend.call("download_list", p_user_id=user_id, p_gen_ids=ids)
    kept = [e for e in entries if e["included"]]
    with ThreadPoolExecutor(SIZE_LOOKUPS_AT_ONCE) as pool:
        for entry, size in zip(kept, pool.map(lambda e: svc.storage.size(e["video_path"]), kept)):
            entry["size"] = size
            if size is None:  # recorded as kept, but storage has no such file any more
                entry.update(included=False, reason="expired")
    total = sum(e["size"] for e in entries if e["included"])
    limit = svc.settings.download_max_bytes
    if total > limit:
        message = (f"generation_ids: these videos make {_mb(total)}, more than the {_mb(limit)} one download "
                   "may hold; ask for fewer at a time")
        raise errors.InvalidRequest(errors=[{"field": "generation_ids", "message": message}])
    return Download(entries, total)


def stream(svc: Services, download: Download) -> Iterator[bytes]:
    """The zip's bytes, as they are made (see the module's docstring)."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for entry in download.entries:
            if entry["included"]:
                yield from _add_video(svc, archive, sink, entry)
        manifest = [{"generation_id": e["generation_id"], "included": e["included"], "reason": e["reason"]}
                    for e in download.entries]
        archive.writestr(_info("manifest.json", None, 0), json.dumps(manifest, indent=2) + "\n")
    yield from sink.drain()


def _add_video(svc: Services, archive: zipfile.ZipFile, sink: "_Sink", entry: dict) -> Iterator[bytes]:
    chunks = svc.storage.read(entry["video_path"])
    try:
        first = next(chunks, b"")
    except (FileNotFoundError, OSError) as exc:  # gone since its size was read: listed as expired
        log.warning("video of %s vanished before the zip read it: %s", entry["generation_id"], exc)
        entry.update(included=False, reason="expired")
        return
    with archive.open(_info(f"{entry['generation_id']}.mp4", entry["completed_at"], entry["size"]), "w") as into:
        into.write(first)
        yield from sink.drain()
        for chunk in chunks:
            into.write(chunk)
            yield from sink.drain()
    yield from sink.drain()


def _info(name: str, when: str | None, size: int) -> zipfile.ZipInfo:
    stamp = datetime.fromisoformat(when) if when else datetime.now()
    info = zipfile.ZipInfo(name, date_time=stamp.timetuple()[:6])
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = size  # lets zipfile choose ZIP64 headers up front for an entry over 2 GiB
    info.external_attr = 0o644 << 16
    return info


class _Sink:
    """A write-only file that cannot seek or tell: zipfile then streams (data descriptors), and what
    it writes waits here only until the generator hands it on."""

    def __init__(self):
        self.parts: list[bytes] = []

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> Iterator[bytes]:
        parts, self.parts = self.parts, []
        yield from parts


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):,.0f} MB"
