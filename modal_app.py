"""The Modal app: its image, its secret, and (as issues land) one web function per endpoint and the cron.

Plain logic lives in functions/ and shared/ with no Modal import; this file only wires it to Modal.
"""

from __future__ import annotations

from pathlib import Path

import modal

APP_NAME = "wan-video-api"
SECRET_NAME = "wan-secrets"

app = modal.App(APP_NAME)

image = (
    modal.Image.debian_slim(python_version="3.11")
    # The runtime dependencies of pyproject.toml (not its local/dev extras): one list to keep.
    .pip_install_from_pyproject(str(Path(__file__).with_name("pyproject.toml")))
    .add_local_python_source("shared", "functions")
)

# required_keys makes a missing key fail the deploy with a clear message instead of a 500 later.
secrets = [modal.Secret.from_name(SECRET_NAME, required_keys=["SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"])]
