"""Regenerates what the SDKs derive from the API: docs/openapi.json, the Python SDK's models
(datamodel-code-generator), both SDKs' route tables (each path's Modal function) and the TypeScript
types (openapi-typescript). `scripts/regenerate` runs it; tests/test_sdks.py runs it into a scratch
directory and fails, naming that command, when a checked-in file differs.

    python -m wan_local.sdk_codegen [--root DIR]     # writes below DIR (default: the project)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from wan_local import openapi

PROJECT = Path(__file__).resolve().parent.parent
PY_MODELS = "clients/python/wan_video/models.py"
PY_ROUTES = "clients/python/wan_video/_routes.py"
TS_SCHEMA = "clients/typescript/src/schema.ts"
TS_ROUTES = "clients/typescript/src/routes.ts"
GENERATED = (openapi.PATH, PY_MODELS, PY_ROUTES, TS_SCHEMA, TS_ROUTES)
COMMAND = "scripts/regenerate"

# datamodel-code-generator's options: pydantic v2 models, enums as Literals, and extra fields ALLOWED,
# so an SDK keeps working when the API adds a field to an answer (the API's own models forbid them).
DATAMODEL_OPTIONS = ["--input-file-type", "openapi", "--output-model-type", "pydantic_v2.BaseModel",
                     "--target-python-version", "3.11", "--use-annotated", "--field-constraints",
                     "--use-standard-collections", "--use-union-operator", "--enum-field-as-literal", "all",
                     "--use-schema-description", "--collapse-root-models", "--disable-timestamp", "--extra-fields", "allow",
                     "--formatters", "builtin"]


def _routes(doc: dict) -> dict[str, list[str]]:
    return {path: [item["x-wan-function"], item["x-wan-function-path"]] for path, item in doc["paths"].items()}


def python_routes(doc: dict) -> str:
    lines = ['"""Generated from docs/openapi.json by scripts/regenerate: do not edit.',
             "", "Each path of the API: the Modal web function serving it, and its path below that function's URL.",
             '"""', "", f"API_VERSION = {doc['info']['version']!r}", "", "ROUTES: dict[str, tuple[str, str]] = {"]
    lines += [f"    {path!r}: ({fn!r}, {there!r})," for path, (fn, there) in _routes(doc).items()]
    return "\n".join([*lines, "}", ""])


def typescript_routes(doc: dict) -> str:
    body = json.dumps(_routes(doc), indent=2)
    return ("// Generated from docs/openapi.json by scripts/regenerate: do not edit.\n"
            "// Each path of the API: the Modal web function serving it, and its path below that function's URL.\n"
            f"export const API_VERSION = {json.dumps(doc['info']['version'])};\n"
            f"export const ROUTES: Record<string, readonly [string, string]> = {body} as const;\n")


def generate(root: Path) -> list[str]:
    """Writes every generated file below `root`; returns what each generator printed on stderr."""
    doc = openapi.document()
    noise = []
    for rel, text in ((openapi.PATH, openapi.dumps(doc)), (PY_ROUTES, python_routes(doc)),
                      (TS_ROUTES, typescript_routes(doc))):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / PY_MODELS).parent.mkdir(parents=True, exist_ok=True)
    codegen = Path(sys.executable).with_name("datamodel-codegen")
    done = subprocess.run([str(codegen), "--input", str(root / openapi.PATH), "--output", str(root / PY_MODELS),
                           *DATAMODEL_OPTIONS], capture_output=True, text=True, check=True)
    noise.append(done.stderr.strip())
    (root / TS_SCHEMA).parent.mkdir(parents=True, exist_ok=True)
    ts = PROJECT / "clients/typescript/node_modules/.bin/openapi-typescript"
    if not ts.exists():
        raise SystemExit("clients/typescript/node_modules is missing: run `npm ci --prefix clients/typescript` first")
    done = subprocess.run([str(ts), str(root / openapi.PATH), "-o", str(root / TS_SCHEMA)],
                          capture_output=True, text=True, check=True)
    # Its own banner and the "written" line are not warnings; anything else it prints (redocly's lint) is.
    noise += [line for line in (done.stdout + done.stderr).splitlines()
              if line.strip() and not line.startswith(("✨ openapi-typescript", "🚀 "))]
    return [n for n in noise if n]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=PROJECT)
    args = parser.parse_args(argv)
    noise = generate(args.root)
    for line in noise:
        print(line, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
