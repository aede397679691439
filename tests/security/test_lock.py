"""requirements.lock stays in step with pyproject.toml: every declared dependency is pinned, with hashes,
at a version its specifier allows (a dependency added without re-locking fails here, not on a new machine)."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from common import paths

ROOT = paths.PROJECT_ROOT
LOCK = ROOT / "requirements.lock"
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", re.MULTILINE)


def _pins() -> dict[str, str]:
    return {canonicalize_name(name): version for name, version in _PIN.findall(LOCK.read_text())}


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *(d for extra in project["optional-dependencies"].values() for d in extra)]
    own = canonicalize_name(project["name"])
    return [r for r in map(Requirement, wanted) if canonicalize_name(r.name) != own]


def test_every_declared_dependency_is_pinned_at_an_allowed_version():
    pins = _pins()
    for requirement in _declared():
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, (
            f"{requirement.name} is in pyproject.toml but not in requirements.lock: re-lock (see its header)"
        )
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {requirement.name}=={pins[name]}, outside pyproject.toml's {requirement.specifier}"
        )


def test_every_pin_carries_hashes():
    text = LOCK.read_text()
    starts = [match.start() for match in _PIN.finditer(text)] + [len(text)]
    entries = [text[begin:end] for begin, end in zip(starts, starts[1:], strict=False)]
    assert len(entries) == len(_pins()) > 50
    unhashed = [entry.split("==")[0] for entry in entries if "--hash=sha256:" not in entry]
    assert not unhashed, f"pins without hashes: {unhashed}"
