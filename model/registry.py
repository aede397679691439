"""Which model is served: a folder of artifacts, a ``current`` pointer into it, and the history behind rollback.

    MODELS_DIR/
        2026-12-01/             artifact folders (model/artifact.py), any names
        default -> ...          (or anywhere else: promote takes any artifact folder)
        current -> 2026-12-01   the served one: services run with --model-dir MODELS_DIR/current
        promotions.json         the artifacts served before, newest last, and a log of every change

Why a symlink: every reader already opens ``--model-dir``, so consumers (which poll its metadata.json and
reload between batches) and dashboards (at start) follow it with no new code, and ``os.replace`` of a new link
over the old one is one rename(2): a reader sees the old target or the new one, never neither. Readers resolve
the link once per load (Predictor.load, consumer.model_reload), so one load never mixes files of two artifacts.

The link is the truth of what is served; the history only records the past. The link is swapped first and the
history written after, so a crash in between leaves a history one change behind, which the next command
repairs (it records the served target on top before anything else). Changes take a lock on the folder.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model import artifact

POINTER = "current"
HISTORY_FILE = "promotions.json"
LOCK_FILE = ".promotions.lock"


class RegistryError(ValueError):
    """A change that cannot be made as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Listed:
    """One artifact folder as ``list`` shows it."""

    path: Path
    version: str
    preset: str
    created: str
    test: dict[str, Any]
    served: bool
    problem: str = ""


@dataclass(frozen=True)
class Change:
    """What a promote or rollback did; ``before`` is None when nothing was served."""

    before: Path | None
    after: Path
    version: str


def served(models_dir: Path) -> Path | None:
    """The real folder the pointer names; None when there is no pointer."""
    pointer = models_dir / POINTER
    if not pointer.is_symlink():
        if pointer.exists():
            raise RegistryError(f"{pointer} is a real folder, not a pointer; move it beside the others and promote it")
        return None
    return pointer.resolve()


def history(models_dir: Path) -> dict[str, Any]:
    """The history file: ``stack`` (link targets served before, the served one last) and ``log`` (every change)."""
    path = models_dir / HISTORY_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"stack": [], "log": []}
    except (OSError, ValueError) as exc:
        raise RegistryError(
            f"{path} is not readable JSON ({exc}); fix or remove it (the pointer stays the truth)"
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("stack"), list) or not isinstance(doc.get("log"), list):
        raise RegistryError(f"{path} must hold an object with 'stack' and 'log' lists")
    return doc


def list_artifacts(models_dir: Path) -> list[Listed]:
    """Every artifact folder under ``models_dir`` (by name), and the served one wherever it lies."""
    now = served(models_dir)
    folders = sorted(
        p for p in models_dir.iterdir() if p.is_dir() and not p.is_symlink() and (p / artifact.METADATA_FILE).exists()
    )
    if now is not None and now not in [p.resolve() for p in folders]:
        folders.append(now)
    return [_describe(folder, folder.resolve() == now) for folder in folders]


def rollback_target(models_dir: Path) -> Path | None:
    """The folder ``rollback`` would serve now; None when there is none."""
    stack = _reconciled(models_dir, history(models_dir))["stack"]
    return _target_path(models_dir, stack[-2]) if len(stack) > 1 else None


def promote(models_dir: Path, folder: Path) -> Change:
    """Serve ``folder`` (a complete, loadable artifact); a no-op when it is already served."""
    real = folder.resolve()
    meta = _loadable(real)
    with _locked(models_dir):
        doc = _reconciled(models_dir, history(models_dir))
        before = served(models_dir)
        if before == real:
            return Change(before, real, meta["version"])
        target = _link_target(models_dir, real)
        _point(models_dir, target)
        doc["stack"].append(target)
        _record(models_dir, doc, "promote", before, real, meta["version"])
    return Change(before, real, meta["version"])


def rollback(models_dir: Path) -> Change:
    """Serve again the artifact served before the current one; the current one leaves the history."""
    with _locked(models_dir):
        doc = _reconciled(models_dir, history(models_dir))
        if len(doc["stack"]) < 2:
            raise RegistryError(f"nothing to roll back to: {models_dir / HISTORY_FILE} records no earlier served model")
        previous = _target_path(models_dir, doc["stack"][-2])
        meta = _loadable(previous)
        before = served(models_dir)
        _point(models_dir, doc["stack"][-2])
        doc["stack"].pop()
        _record(models_dir, doc, "rollback", before, previous, meta["version"])
    return Change(before, previous, meta["version"])


def _describe(folder: Path, is_served: bool) -> Listed:
    try:
        meta = artifact.read_metadata(folder)
    except artifact.ModelLoadError as exc:
        return Listed(folder, "?", "?", "?", {}, is_served, str(exc))
    test = (meta.get("metrics") or {}).get("test") or {}
    return Listed(folder, meta["version"], str(meta.get("preset", "?")), str(meta.get("created", "?")), test, is_served)


def _loadable(folder: Path) -> dict[str, Any]:
    """The artifact's metadata once it has loaded and scored a review, so a broken folder is never served."""
    from model.predictor import Predictor

    try:
        meta = artifact.verify(folder)
        Predictor.load(folder).predict(["a quick check that the model scores"])
    except (artifact.ModelLoadError, OSError) as exc:
        raise RegistryError(f"{folder} cannot be served: {exc}") from None
    return meta


def _link_target(models_dir: Path, real: Path) -> str:
    """Relative inside the models folder (so the folder can be mounted anywhere), absolute outside it."""
    base = models_dir.resolve()
    return str(real.relative_to(base)) if real.is_relative_to(base) else str(real)


def _target_path(models_dir: Path, target: str) -> Path:
    return (models_dir / target).resolve()


def _point(models_dir: Path, target: str) -> None:
    """Swap the pointer in one rename: a reader sees the old target or the new one, never no pointer."""
    staged = models_dir / f".{POINTER}.{os.getpid()}"
    staged.unlink(missing_ok=True)
    os.symlink(target, staged)
    os.replace(staged, models_dir / POINTER)


def _reconciled(models_dir: Path, doc: dict[str, Any]) -> dict[str, Any]:
    """The history with the served target on top: a pointer set by hand, or a crash before the history was
    written, must still be what rollback comes back to."""
    now = served(models_dir)
    if now is not None and (not doc["stack"] or _target_path(models_dir, doc["stack"][-1]) != now):
        doc["stack"].append(os.readlink(models_dir / POINTER))
    return doc


def _record(models_dir: Path, doc: dict[str, Any], action: str, before: Path | None, after: Path, version: str) -> None:
    doc["log"].append(
        {
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "action": action,
            "from": None if before is None else str(before),
            "to": str(after),
            "version": version,
        }
    )
    path = models_dir / HISTORY_FILE
    staged = path.with_name(f".{HISTORY_FILE}.{os.getpid()}")
    staged.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(staged, path)


@contextmanager
def _locked(models_dir: Path) -> Iterator[None]:
    """One change at a time per models folder (two promotes at once would both push onto the history)."""
    if not models_dir.is_dir():
        raise RegistryError(f"models folder {models_dir} does not exist")
    with open(models_dir / LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
