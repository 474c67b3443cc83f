"""An embedded Postgres for the local stack and the tests: no server needs to be installed.

The server binaries come from the `pgserver` wheel (which bundles them) or, failing that, from a
Postgres on PATH. The server listens on 127.0.0.1 only, on a free port (no Unix socket). Postgres
refuses to run as root, so as root it runs as an unprivileged system user; when that user cannot
reach the binaries or the data directory (a clone inside a 0700 directory), it runs from copies it
can reach under /var/lib/wan-api (WAN_PG_PASSABLE_DIR), and no directory of the user's is widened.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

PG_SYSTEM_USER = "wanpg"


def find_bin_dir() -> Path:
    """The directory holding initdb and postgres: pgserver's bundle, else a system install."""
    override = os.environ.get("WAN_PG_BIN")
    if override:
        return Path(override)
    # Located without importing pgserver, whose import has side effects we do not need.
    spec = importlib.util.find_spec("pgserver")
    for location in (spec.submodule_search_locations or []) if spec else []:
        bundled = Path(location) / "pginstall" / "bin"
        if (bundled / "postgres").exists():
            return bundled
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise RuntimeError(
        "No Postgres server binaries found: install the project with its local extras "
        "(pip install -e '.[dev]', which brings pgserver) or set DATABASE_URL."
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> dict:
    """subprocess arguments that drop root to an unprivileged user (Postgres will not run as root)."""
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", PG_SYSTEM_USER], check=True)
    return {"user": PG_SYSTEM_USER, "group": pwd.getpwnam(PG_SYSTEM_USER).pw_gid}


class DataDirInUse(RuntimeError):
    """Another live process holds the data directory's lock."""


class DataDirLock:
    """An exclusive `flock` on a file in a data directory, holding the owner's pid and port.

    The kernel drops the lock when the owner dies, however it dies: a held lock means a live owner,
    a free one means anything left behind (a leftover server) belongs to nobody."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self, **owner) -> "DataDirLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held = os.read(fd, 4096).decode(errors="replace")
            os.close(fd)
            try:
                other = json.loads(held)
            except ValueError:
                other = {}
            who = ", ".join(f"{k} {other[k]}" for k in ("pid", "port") if k in other) or "owner unknown"
            raise DataDirInUse(f"{self.path.parent} is in use by another process ({who})") from None
        self._fd = fd
        return self.update(**owner)

    def update(self, **owner) -> "DataDirLock":
        """Rewrite what the file says about its (live) owner."""
        if self._fd is None:  # released already: nothing to say
            return self
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, json.dumps({"pid": os.getpid(), **owner}).encode(), 0)
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file stays (unlinking it would race)
            self._fd = None


def make_dirs(path: Path, mode: int | None = None) -> None:
    """mkdir -p, giving `mode` to the directories made here and changing no existing one. By default
    private, except that as root the server user must be able to pass through."""
    if mode is None:
        mode = 0o711 if os.geteuid() == 0 else 0o700
    missing = [p for p in [path, *path.parents] if not p.exists()]
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:  # made by someone else meanwhile: theirs, left as it is
            continue
        directory.chmod(mode)  # mkdir's mode is cut by the umask; this is exact


# As root, where the server user's copies live when it cannot reach the originals (a clone inside
# root's 0700 home or a `mktemp -d`): directories root makes for it, so no directory of the user's
# is ever widened. WAN_PG_PASSABLE_DIR puts both under one directory (tests, unusual layouts).
_PASSABLE = os.environ.get("WAN_PG_PASSABLE_DIR")
PASSABLE_CACHE = Path(_PASSABLE, "cache") if _PASSABLE else Path("/var/cache/wan-api")  # the binaries
PASSABLE_DATA = Path(_PASSABLE, "data") if _PASSABLE else Path("/var/lib/wan-api")      # the clusters


def _blocking_parent(path: Path) -> Path | None:
    """The first of `path` and its parents the server user cannot pass through, if any."""
    uid = pwd.getpwnam(PG_SYSTEM_USER).pw_uid
    for parent in [path, *path.parents]:
        st = parent.stat()
        if st.st_uid != uid and not st.st_mode & 0o001:
            return parent
    return None


def _passable_bin_dir(bin_dir: Path) -> Path:
    """`bin_dir`, or a copy of its installation (bin, lib, share) the server user can reach, made once
    per pgserver version (or per original path) under PASSABLE_CACHE. The wheel's binaries find their
    libraries at $ORIGIN/../../../pgserver.libs (auditwheel's RPATH): the copy keeps that layout."""
    if _blocking_parent(bin_dir) is None:
        return bin_dir
    install = bin_dir.parent
    try:
        key = "pgserver-" + importlib.metadata.version("pgserver") if "pgserver" in install.parts else None
    except importlib.metadata.PackageNotFoundError:
        key = None
    key = key or "pg-" + hashlib.sha256(str(install).encode()).hexdigest()[:16]
    copy = PASSABLE_CACHE / key
    if not (copy / ".complete").exists():
        make_dirs(copy.parent, 0o755)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=copy.parent))
        try:
            for part in ("bin", "lib", "share"):
                if (install / part).is_dir():
                    shutil.copytree(install / part, staging / install.parent.name / install.name / part, symlinks=True)
            libs = install.parent.parent / f"{install.parent.name}.libs"
            if libs.is_dir():
                shutil.copytree(libs, staging / libs.name, symlinks=True)
            (staging / ".complete").touch()
            # Our own copy: readable and passable, as a system install is (whatever pip's umask was).
            for path in [staging, *staging.rglob("*")]:
                if path.is_symlink():
                    continue
                mode = path.stat().st_mode
                path.chmod(0o755 if path.is_dir() else mode | 0o444 | (0o111 if mode & 0o100 else 0))
            try:
                staging.rename(copy)
            except OSError:  # another process made it meanwhile: theirs is as good
                pass
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return copy / install.parent.name / install.name / bin_dir.name


def _check_reachable(path: Path) -> None:
    """The unprivileged server user must pass through `path` and each parent: say so rather than widen
    a directory this process did not make (a 0700 home stays 0700)."""
    parent = _blocking_parent(path)
    if parent is not None:
        raise RuntimeError(
            f"the embedded Postgres runs as user {PG_SYSTEM_USER} (Postgres refuses root), which cannot "
            f"enter {parent} (mode {parent.stat().st_mode & 0o777:o}): put WAN_DATA_DIR and the project "
            f"outside it, run as another user, or set DATABASE_URL")


def _passable_pgdata(link: Path) -> Path:
    """Where the cluster lives when the server user cannot enter the data directory: a directory of
    its own under PASSABLE_DATA, named by a random id that `link` (a symlink in the data directory)
    points at. Deleting the data directory deletes the link, so the next start begins afresh, as it
    does with the data directory alone."""
    if link.is_symlink():
        if Path(os.readlink(link)).parent.is_dir():
            return Path(os.readlink(link))
        link.unlink()  # its cluster was removed (a cleaned /var/lib): start afresh, as after deleting it here
    make_dirs(PASSABLE_DATA, 0o711)
    home = Path(tempfile.mkdtemp(prefix="cluster-", dir=PASSABLE_DATA))
    (home / "data-dir").write_text(f"{link.parent}\n")  # whose it is, for a person cleaning up
    shutil.chown(home, user=PG_SYSTEM_USER)
    if link.exists():  # a cluster from before the directory became private: moved along, kept
        shutil.move(link, home / "pgdata")
    os.symlink(home / "pgdata", link)
    return home / "pgdata"


class EmbeddedPostgres:
    """One Postgres server in `data_dir`. `start()` initialises it on first use; `stop()` ends it."""

    def __init__(self, data_dir: Path, *, port: int | None = None, durable: bool = True):
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        # Tests trade durability for speed; the local stack keeps its data safe across crashes.
        self.durable = durable
        self.bin_dir = find_bin_dir()
        self.process: subprocess.Popen | None = None
        self.lock: DataDirLock | None = None

    @property
    def pgdata(self) -> Path:
        """The cluster: `data_dir/pgdata`, or where that symlink points (see _passable_pgdata)."""
        link = self.data_dir / "pgdata"
        return Path(os.readlink(link)) if link.is_symlink() else link

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> "EmbeddedPostgres":
        run_as = _run_as()
        # Made here: readable by the server user; nothing that already exists changes mode.
        make_dirs(self.data_dir)
        # First, before touching anything: a live owner's server is never stopped or reused.
        self.lock = DataDirLock(self.data_dir / "server.lock").acquire(port=self.port)
        try:
            if run_as:
                # Out of the server user's reach (inside a 0700 directory): copies it can reach,
                # made by us, rather than widening a directory of the user's.
                self.bin_dir = _passable_bin_dir(self.bin_dir)
                _check_reachable(self.bin_dir)
                if _blocking_parent(self.data_dir.parent) is None:
                    shutil.chown(self.data_dir, user=PG_SYSTEM_USER)  # the server's own directory
                else:
                    _passable_pgdata(self.data_dir / "pgdata")
                _check_reachable(self.pgdata.parent)
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb(run_as)
            self._stop_leftover(run_as)
            self._spawn(run_as)
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, run_as: dict) -> None:
        options = [
            "-c", "listen_addresses=127.0.0.1",
            # No Unix socket: everything connects over TCP, and a socket path over 107 bytes (a
            # project cloned deep in a home directory) would stop the server from starting at all.
            "-c", "unix_socket_directories=",
            "-c", "max_connections=200",
            "-c", "shared_buffers=128MB",
        ]
        if not self.durable:
            options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        log = open(self.data_dir / "postgres.log", "ab")
        self.process = subprocess.Popen(
            [str(self.bin_dir / "postgres"), "-D", str(self.pgdata), "-p", str(self.port), *options],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **run_as,
        )
        self._wait_ready()

    def _initdb(self, run_as: dict) -> None:
        if self.pgdata.exists():
            shutil.rmtree(self.pgdata)
        subprocess.run(
            [str(self.bin_dir / "initdb"), "-D", str(self.pgdata), "-U", "postgres",
             "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
            check=True, capture_output=True, **run_as,
        )

    def _stop_leftover(self, run_as: dict) -> None:
        """A server left running by a killed parent still owns the data directory: stop it first.
        Only reached with the data directory's lock held, so the server is nobody's live one."""
        if (self.pgdata / "postmaster.pid").exists():
            subprocess.run(
                [str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.pgdata), "-m", "fast", "-w"],
                capture_output=True, **run_as,
            )

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"Postgres exited with code {self.process.returncode}; "
                    f"see {self.data_dir / 'postgres.log'}"
                )
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Postgres did not answer within {timeout:.0f} s ({exc}); "
                                       f"see {self.data_dir / 'postgres.log'}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown: roll back, close, checkpoint
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> "EmbeddedPostgres":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
