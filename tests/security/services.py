"""The project's commands as subprocesses, for the security tests that run them end to end."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
WAIT_S = 120.0  # loop bound for work that takes seconds; a test that reaches it has failed


class Service:
    """A ``sentiment-*`` command as a subprocess, its output in a log file."""

    def __init__(self, command: str, args: list[str], env: dict[str, str] | None, log: Path) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([str(BIN / command), *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float = WAIT_S) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.proc.args[0]} did not exit within {timeout:.0f} s:\n{self.text()[-3000:]}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait()
