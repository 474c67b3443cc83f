"""Where uploaded images and finished videos live, and the expiring links the browser and Replicate fetch.

Production: a private Supabase Storage bucket and its signed URLs. Local stack and tests: a directory
under WAN_DATA_DIR, served by `wan-api dev` at /files/<path> behind HMAC-signed, expiring links.
"""

from __future__ import annotations

import hashlib
import hmac
import shutil
import time
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Protocol
from urllib.parse import quote, urlencode


# Objects per Storage API delete request: keeps each request's body and the server's work bounded.
DELETE_BATCH = 1000
# How much of a stored file is held at once when one is streamed out (the bulk download's zip).
READ_CHUNK = 1024 * 1024


class Storage(Protocol):
    def put(self, path: str, data: bytes, content_type: str) -> None: ...
    def put_file(self, path: str, source: Path, content_type: str) -> None: ...
    def exists(self, path: str) -> bool: ...
    def signed_url(self, path: str, expires_in: int) -> str: ...
    def signed_urls(self, paths: list[str], expires_in: int) -> list[str]: ...
    def delete(self, paths: list[str]) -> None: ...
    def size(self, path: str) -> int | None: ...
    def read(self, path: str) -> Iterator[bytes]: ...
    def copy(self, source: str, target: str) -> None: ...
    def download_to(self, path: str, into: BinaryIO, limit: int) -> None: ...


class TooLarge(Exception):
    """A stored object is larger than the caller's limit."""


class LocalStorage:
    def __init__(self, root: Path, base_url: str, secret: bytes):
        self.root = Path(root)
        self.base_url = base_url.rstrip("/")
        self.secret = secret

    def _file(self, path: str) -> Path:
        target = (self.root / path).resolve()
        if self.root.resolve() not in target.parents:
            raise ValueError(f"path escapes the storage root: {path}")
        return target

    def put(self, path: str, data: bytes, content_type: str) -> None:
        target = self._file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(target.suffix + ".part")
        partial.write_bytes(data)
        partial.replace(target)  # readers never see half a file

    def put_file(self, path: str, source: Path, content_type: str) -> None:
        target = self._file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(target.suffix + ".part")
        shutil.copyfile(source, partial)
        partial.replace(target)

    def exists(self, path: str) -> bool:
        return self._file(path).is_file()

    def download_to(self, path: str, into: BinaryIO, limit: int) -> None:
        """Copy one stored file into `into` (FileNotFoundError when it is gone, TooLarge past `limit`)."""
        source = self._file(path)
        if source.stat().st_size > limit:
            raise TooLarge(path)
        with source.open("rb") as f:
            shutil.copyfileobj(f, into)

    def _signature(self, path: str, expires: int) -> str:
        return hmac.new(self.secret, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def signed_url(self, path: str, expires_in: int) -> str:
        expires = int(time.time()) + expires_in
        query = urlencode({"expires": expires, "sig": self._signature(path, expires)})
        return f"{self.base_url}/files/{quote(path)}?{query}"

    def signed_urls(self, paths: list[str], expires_in: int) -> list[str]:
        return [self.signed_url(path, expires_in) for path in paths]

    def delete(self, paths: list[str]) -> None:
        """Remove these files; one already gone is not an error (retention may run twice)."""
        for path in paths:
            self._file(path).unlink(missing_ok=True)

    def copy(self, source: str, target: str) -> None:
        self.put_file(target, self._file(source), "")

    def size(self, path: str) -> int | None:
        """The stored file's size in bytes, or None when there is none."""
        target = self._file(path)
        return target.stat().st_size if target.is_file() else None

    def read(self, path: str) -> Iterator[bytes]:
        """The file's bytes, READ_CHUNK at a time (never the whole file in memory)."""
        with self._file(path).open("rb") as f:
            while chunk := f.read(READ_CHUNK):
                yield chunk

    def open_signed(self, path: str, expires: int, sig: str) -> Path | None:
        """The file behind a signed link, or None when the link is forged, expired or dangling."""
        if expires < time.time() or not hmac.compare_digest(sig, self._signature(path, expires)):
            return None
        try:
            target = self._file(path)
        except ValueError:
            return None
        return target if target.is_file() else None


class SupabaseStorage:
    def __init__(self, client: Any, bucket: str):
        self.bucket = client.storage.from_(bucket)

    def copy(self, source: str, target: str) -> None:
        """A server-side copy in the bucket (`POST /object/copy`, storage3's `copy`): no bytes pass here."""
        self.bucket.copy(source, target)

    def size(self, path: str) -> int | None:
        """The object's size from `GET /object/info/{bucket}/{path}` (storage3's `info`, the same call
        its `exists` makes); None when Storage says there is no such object."""
        from storage3.exceptions import StorageApiError

        try:
            info = self.bucket.info(path)
        except StorageApiError as exc:
            if str(exc.status) == "404":
                return None
            raise
        size = info.get("size", (info.get("metadata") or {}).get("size"))
        return int(size) if size is not None else None

    def read(self, path: str) -> Iterator[bytes]:
        """The object's bytes as they arrive, through a short-lived signed URL: storage3's `download`
        returns the whole object as one bytes value, which a zip of 50 videos must never hold."""
        import httpx

        url = self.signed_url(path, 60)
        with httpx.stream("GET", url, timeout=httpx.Timeout(30.0, connect=5.0)) as response:
            response.raise_for_status()
            yield from response.iter_bytes(READ_CHUNK)

    def put(self, path: str, data: bytes, content_type: str) -> None:
        # upsert: a retried copy overwrites its own earlier attempt instead of failing
        self.bucket.upload(path, data, {"content-type": content_type, "upsert": "true"})

    def put_file(self, path: str, source: Path, content_type: str) -> None:
        # Given a path (str), storage3 opens the file itself and httpx streams it in the multipart
        # body (storage3/_sync/file_api.py `_upload_or_update`): a video is never held in memory.
        self.bucket.upload(path, str(source), {"content-type": content_type, "upsert": "true"})

    def exists(self, path: str) -> bool:
        return bool(self.bucket.exists(path))

    def download_to(self, path: str, into: BinaryIO, limit: int) -> None:
        """Stream one object into `into` through a short-lived signed URL (storage3's `download` would
        hold the whole video in memory); FileNotFoundError when it is gone, TooLarge past `limit`."""
        import httpx

        with httpx.stream("GET", self.signed_url(path, 60), timeout=30) as answer:
            if answer.status_code in (400, 404):  # Storage answers 400 "Object not found" for a missing object
                raise FileNotFoundError(path)
            answer.raise_for_status()
            written = 0
            for chunk in answer.iter_bytes():
                written += len(chunk)
                if written > limit:
                    raise TooLarge(path)
                into.write(chunk)

    def signed_url(self, path: str, expires_in: int) -> str:
        return self.bucket.create_signed_url(path, expires_in)["signedURL"]

    def signed_urls(self, paths: list[str], expires_in: int) -> list[str]:
        """One request for a page of history instead of one per video."""
        by_path = {item["path"]: item["signedURL"] for item in self.bucket.create_signed_urls(paths, expires_in)}
        return [by_path[path] for path in paths]

    def delete(self, paths: list[str]) -> None:
        """Remove these objects, up to DELETE_BATCH per request: storage3's `remove(paths)` sends `DELETE
        /object/{bucket}` with `{"prefixes": [...]}` (storage3 2.34 `_sync/file_api.py`; "Deletes files
        within the same bucket", supabase.com/docs/reference/javascript/storage-from-remove). Objects
        already gone are simply missing from Storage's answer, not an error: a repeated delete is safe."""
        for start in range(0, len(paths), DELETE_BATCH):
            self.bucket.remove(paths[start:start + DELETE_BATCH])
