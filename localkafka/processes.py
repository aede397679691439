"""Child processes that are always cleaned up: each in its own process group, output to a named log file.

The demo (and tests and benchmarks that run services) start the consumer, dashboard and
producer with this. A process group per child means Ctrl-C in the terminal
reaches only the demo, which then stops the children in order, and stopping
a child also stops anything it started: SIGTERM to the group, a grace period,
then SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Child:
    """One started command: its name (for messages), its process and its log file."""

    name: str
    argv: Sequence[str]
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    @classmethod
    def start(
        cls,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Child:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        return cls(name, argv, log_path, process)

    @property
    def pid(self) -> int:
        return self.process.pid

    def exit_code(self) -> int | None:
        """None while running."""
        return self.process.poll()

    def stop(self, grace: float = 15.0) -> int:
        """SIGTERM the child's process group, wait ``grace`` s, then SIGKILL it; return the exit code."""
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait()
        # Grandchildren that outlived their parent still belong to the group: make sure they go too.
        self._signal_group(signal.SIGKILL)
        return self.process.returncode

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)  # the group id is the child's pid (start_new_session)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def wait_until(condition, timeout: float, children: Sequence[Child] = (), interval: float = 0.25) -> Child | None:
    """Poll ``condition()`` until true or ``timeout``; return the first child that exited meanwhile, else None.

    Raises TimeoutError when the condition does not hold in time.
    """
    deadline = time.monotonic() + timeout
    while True:
        for child in children:
            if child.exit_code() is not None:
                return child
        if condition():
            return None
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(interval)
