"""The image installs what CI tested: uv.lock holds exact versions of what pyproject.toml asks for, the
Modal image is built from it, and scripts/setup (so .ci/run) installs the same versions, exported to
requirements-dev.txt. Any disagreement fails here, naming the one command that relocks."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
RELOCK = "run `scripts/lock` (then scripts/setup and the tests), and commit uv.lock and requirements-dev.txt"


def wanted(pyproject: dict) -> set[tuple]:
    """pyproject.toml's requirements, the extras' ones marked as uv.lock marks them."""
    project = pyproject["project"]
    found = {_key(Requirement(r)) for r in project["dependencies"]}
    for extra, reqs in project.get("optional-dependencies", {}).items():
        for r in reqs:
            req = Requirement(r)
            marker = f"extra == '{extra}'" if req.marker is None else f"{req.marker} and extra == '{extra}'"
            found.add(_key(req, marker))
    return found


def _key(req: Requirement, marker: str | None = None) -> tuple:
    marker = marker if marker is not None else (str(req.marker) if req.marker else None)
    return (canonicalize_name(req.name), tuple(sorted(req.extras)), str(req.specifier), marker)


def locked_for(lock: dict, project: str = "wan-video-api") -> set[tuple]:
    """What uv.lock was resolved from: its root package's recorded requires-dist."""
    root = next(p for p in lock["package"] if p["name"] == project)
    found = set()
    for r in root["metadata"]["requires-dist"]:
        found.add((canonicalize_name(r["name"]), tuple(sorted(r.get("extras", []))), r.get("specifier", ""),
                   r.get("marker")))
    return found


def lock_versions(lock: dict) -> dict[str, set[str]]:
    """Each package's locked versions: one, or one per Python range (av: 18.1 below 3.12, 19 above)."""
    versions: dict[str, set[str]] = {}
    for p in lock["package"]:
        if "version" in p:
            versions.setdefault(canonicalize_name(p["name"]), set()).add(p["version"])
    return versions


def exported_versions(text: str) -> dict[str, str]:
    """The export's pins that apply to this interpreter (a pin may carry a marker such as
    `python_full_version < '3.12'`)."""
    pins = {}
    for m in re.finditer(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;\\]+)(?:\s*;\s*([^\\\n]+))?", text, re.M):
        if m[3] is None or Marker(m[3].strip()).evaluate():
            pins[canonicalize_name(m[1])] = m[2]
    return pins


def disagreements(pyproject: dict, lock: dict) -> list[str]:
    want, have = wanted(pyproject), locked_for(lock)
    return [f"pyproject.toml asks for {w} but uv.lock was not resolved for it" for w in sorted(want - have, key=str)] + \
           [f"uv.lock was resolved for {h}, which pyproject.toml no longer asks for" for h in sorted(have - want, key=str)]


def load():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return pyproject, lock


def test_the_lock_was_resolved_from_pyproject():
    pyproject, lock = load()
    problems = disagreements(pyproject, lock)
    assert problems == [], f"{'; '.join(problems)}: {RELOCK}"


def test_the_check_fails_when_a_dependency_is_added_or_its_floor_moves():
    pyproject, lock = load()
    added = dict(pyproject, project={**pyproject["project"],
                                     "dependencies": [*pyproject["project"]["dependencies"], "av>=14"]})
    assert any("'av'" in p for p in disagreements(added, lock))
    moved = [d if not d.startswith("fastapi") else "fastapi>=0.200" for d in pyproject["project"]["dependencies"]]
    assert len(disagreements(dict(pyproject, project={**pyproject["project"], "dependencies": moved}), lock)) == 2


def test_setup_installs_the_locks_exact_versions():
    _, lock = load()
    exported = exported_versions((ROOT / "requirements-dev.txt").read_text())
    versions = lock_versions(lock)
    assert exported, "requirements-dev.txt pins nothing"
    wrong = {name: (v, versions.get(name)) for name, v in exported.items() if v not in versions.get(name, set())}
    assert wrong == {}, f"requirements-dev.txt differs from uv.lock {wrong}: {RELOCK}"
    setup = (ROOT / "scripts" / "setup").read_text()
    assert "--require-hashes -r requirements-dev.txt" in setup and "--no-deps -e ." in setup
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text() and "scripts/setup" in (ROOT / "scripts" / "test").read_text()


def test_this_environment_runs_the_locked_versions():
    """What the tests run on is what the lock says (so what CI passed is what the image installs)."""
    _, lock = load()
    exported = exported_versions((ROOT / "requirements-dev.txt").read_text())
    installed = {}
    for name, version in exported.items():
        try:
            installed[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # a platform-specific dependency (e.g. colorama on Windows)
    wrong = {n: (v, exported[n]) for n, v in installed.items() if v != exported[n]}
    assert len(installed) > 50 and wrong == {}, f"installed differs from the lock {wrong}: run scripts/setup"


def test_the_modal_image_is_built_from_the_lock_with_the_same_uv():
    import modal_app

    source = (ROOT / "modal_app.py").read_text()
    assert ".uv_sync(" in source and "frozen=True" in source and "pip_install_from_pyproject(" not in source
    lock_script = (ROOT / "scripts" / "lock").read_text()
    assert f"UV_VERSION={modal_app.UV_VERSION}" in lock_script
