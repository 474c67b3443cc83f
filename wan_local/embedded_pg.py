"""An embedded Postgres for the local stack and the tests: no server needs to be installed.

The server binaries come from the `pgserver` wheel (which bundles them) or, failing that, from a
Postgres on PATH. The server listens on 127.0.0.1 only, on a free port, and on a socket in its data
directory. Postgres refuses to run as root, so as root it runs as an unprivileged system user.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
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


def _make_reachable(path: Path) -> None:
    """Let the unprivileged server user traverse every parent directory and read the binaries."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        parent.chmod(mode | 0o055)


class EmbeddedPostgres:
    """One Postgres server in `data_dir`. `start()` initialises it on first use; `stop()` ends it."""

    def __init__(self, data_dir: Path, *, port: int | None = None, durable: bool = True):
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        # Tests trade durability for speed; the local stack keeps its data safe across crashes.
        self.durable = durable
        self.bin_dir = find_bin_dir()
        self.process: subprocess.Popen | None = None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> "EmbeddedPostgres":
        run_as = _run_as()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if run_as:
            _make_reachable(self.bin_dir)
            _make_reachable(self.data_dir)
            shutil.chown(self.data_dir, user=PG_SYSTEM_USER)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(run_as)
        self._stop_leftover(run_as)
        options = [
            "-c", "listen_addresses=127.0.0.1",
            "-c", f"unix_socket_directories={self.data_dir}",
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
        return self

    def _initdb(self, run_as: dict) -> None:
        if self.pgdata.exists():
            shutil.rmtree(self.pgdata)
        subprocess.run(
            [str(self.bin_dir / "initdb"), "-D", str(self.pgdata), "-U", "postgres",
             "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
            check=True, capture_output=True, **run_as,
        )

    def _stop_leftover(self, run_as: dict) -> None:
        """A server left running by a killed parent still owns the data directory: stop it first."""
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
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)  # "fast" shutdown: roll back, close, checkpoint
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> "EmbeddedPostgres":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
