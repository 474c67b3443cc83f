"""`wan-api --version` and each command's --help: what it needs and its defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version

import pytest

from wan_local.cli import main


def help_of(capsys, *command: str) -> str:
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines: compare words


def test_version_is_the_installed_packages():
    run = subprocess.run([sys.executable, "-m", "wan_local.cli", "--version"], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0 and run.stdout == f"wan-api {version('wan-video-api')}\n"


@pytest.mark.parametrize("command, needs", [
    pytest.param("dev", ["DATABASE_URL", "embedded Postgres", "REPLICATE_API_TOKEN", "emulator", "WAN_DATA_DIR",
                         ".wan-data in the project directory", "SWEEP_INTERVAL_SECONDS", "(default 60)",
                         "--port", "(default: 8000)", "--host", "(default: 127.0.0.1)"], id="dev"),
    pytest.param("migrate", ["Needs: DATABASE_URL", "--accept-changed", "schema_migrations"], id="migrate"),
    pytest.param("sweep", ["REPLICATE_API_TOKEN", "DATABASE_URL", "SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY",
                           "STUCK_AFTER_SECONDS (600)", "QUEUED_TIMEOUT_SECONDS (600)", "DEADLINE_SECONDS (2700)",
                           "JSON on the last line"], id="sweep"),
])
def test_each_commands_help_says_what_it_needs_and_its_defaults(capsys, command, needs):
    text = help_of(capsys, command)
    for phrase in needs:
        assert phrase in text, phrase


@pytest.mark.parametrize("argv, env, line", [
    pytest.param(["dev", "--port", "99999"], {}, "wan-api dev: --port 99999 is not a port: use 1 to 65535, "
                 "or 0 for a free one", id="port_out_of_range"),
    pytest.param(["dev", "--port", "0"], {"WAN_DATA_DIR": "/proc/nope"}, "wan-api dev: cannot keep the local "
                 "data in /proc/nope (No such file or directory): set WAN_DATA_DIR to a directory you can write",
                 id="data_dir_cannot_be_made"),
])
def test_bad_input_to_dev_is_one_line_and_exit_2(tmp_path, argv, env, line):
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "WAN_DATA_DIR")}
    run = subprocess.run([sys.executable, "-m", "wan_local.cli", *argv], env=environ | env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stdout, run.stderr) == (2, "", line + "\n")
