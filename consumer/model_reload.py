"""Live model reload: notice a new model version, load it beside the old one, switch between batches.

A background thread checks the model folder's metadata.json every
``poll_seconds`` (and at once on ``request()``, which SIGHUP calls). When its
version differs from the serving one, the new Predictor is loaded completely
(checksums verified, one warm-up call) while the old one keeps scoring; only
then does ``current()`` return it. The service calls ``current()`` once per
batch, so a batch is scored by exactly one model and the switch costs no pause.
A model that fails to load is logged and the old one stays; the check repeats
at the next poll, so a folder still being copied is picked up once complete.

``model_dir`` may be a pointer (a symlink that ``sentiment-model promote`` and
``rollback`` swap, model/registry.py). Each check resolves it once and reads the
version and every file from that one real folder, so a swap during a load never
mixes two artifacts: the next check sees the newer target.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from model import artifact
from model.artifact import ModelLoadError
from model.predictor import Scorer

log = logging.getLogger(__name__)

Loader = Callable[[Path], Scorer]


def folder_version(model_dir: Path) -> str | None:
    """The version named by the folder's metadata.json; None when it cannot be read (yet)."""
    try:
        return artifact.read_metadata(model_dir)["version"]
    except ModelLoadError:
        return None


class ModelWatcher:
    """Holds the serving model and swaps in a newer one from ``model_dir`` when it appears."""

    def __init__(self, model_dir: Path, initial: Scorer, loader: Loader, poll_seconds: float = 10.0) -> None:
        self.model_dir = model_dir
        self._current = initial
        self._loader = loader
        self._poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._failed_version: str | None = None
        self.reloads = 0
        self._thread = threading.Thread(target=self._watch, name="model-watcher", daemon=True)

    def current(self) -> Scorer:
        """The model to score the next batch with (an atomic reference read)."""
        return self._current

    def start(self) -> ModelWatcher:
        if self._poll_seconds > 0:
            self._thread.start()
        return self

    def request(self) -> None:
        """Check the folder now (SIGHUP); safe from a signal handler."""
        self._wake.set()
        if not self._thread.is_alive() and not self._stop.is_set():
            threading.Thread(target=self.check, name="model-reload", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._poll_seconds)
            self._wake.clear()
            if not self._stop.is_set():
                self.check()

    def check(self) -> bool:
        """Load and switch to the folder's model if its version is new; return whether it switched."""
        folder = self.model_dir.resolve()
        version = folder_version(folder)
        if version is None or version == self._current.version:
            return False
        try:
            candidate = self._loader(folder)
            candidate.judge(["warm-up review so the first real batch pays no start-up cost"])
        except Exception as exc:  # noqa: BLE001 - any failure keeps the old model serving
            if version != self._failed_version:  # log once per bad version, not once per poll
                log.error(
                    "new model failed to load; the old one keeps serving",
                    extra={
                        "model_dir": str(self.model_dir),
                        "folder": str(folder),
                        "version": version,
                        "error": str(exc)[:500],
                        "serving": self._current.version,
                    },
                )
            self._failed_version = version
            return False
        old, self._current = self._current.version, candidate
        self._failed_version = None
        self.reloads += 1
        log.info(
            "model switched",
            extra={"from": old, "to": candidate.version, "model_dir": str(self.model_dir), "folder": str(folder)},
        )
        return True
