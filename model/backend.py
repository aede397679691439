"""Keras, imported with its backend's start-up noise kept out of the user's terminal.

Why: importing TensorFlow and touching its first device print lines on stderr that are none of the user's
business: oneDNN and CPU-instruction notices, absl's "before InitializeLog" warning and, on a machine without
a GPU, a "failed call to cuInit" *error*. They come from C++ straight to file descriptor 2, where Python's
logging and warnings filters cannot reach, so that descriptor is pointed at a buffer while the backend
starts; what it caught goes to the debug log, or to stderr when the start-up itself fails.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

log = logging.getLogger("model.backend")


def import_keras() -> ModuleType:
    """``keras`` with its backend initialised (devices enumerated), its start-up output held back."""
    # TensorFlow's C++ log after start-up: its "errors" there are notices too ("oneDNN supports DT_BOOL only on
    # platforms with AVX-512. Falling back ...", at the first masked batch); real failures raise in Python.
    # TF_CPP_MIN_LOG_LEVEL=0 in the environment shows them all again.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_captured() as caught:
        import keras

        keras.ops.convert_to_tensor(0.0)  # the first tensor is what makes TensorFlow look for CUDA devices
    if caught.text:
        log.debug("backend start-up output", extra={"backend": keras.backend.backend(), "output": caught.text})
    return keras


class _Caught:
    text = ""


@contextmanager
def _stderr_captured() -> Iterator[_Caught]:
    """File descriptor 2 into a temporary file for the block; on an exception its text is written back first."""
    caught = _Caught()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield caught
        except BaseException:
            _restore(saved, sink, caught)
            sys.stderr.write(caught.text)
            raise
        _restore(saved, sink, caught)


def _restore(saved: int, sink, caught: _Caught) -> None:
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)
    sink.seek(0)
    caught.text = sink.read().decode("utf-8", "replace")
