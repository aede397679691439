"""The project's commands as subprocesses, for the security tests that run them end to end."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Message

BIN = Path(sys.executable).parent
WAIT_S = 120.0  # loop bound for work that takes seconds; a test that reaches it has failed


class Service:
    """A ``sentiment-*`` command as a subprocess, its output in a log file."""

    def __init__(self, command: str, args: list[str], env: dict[str, str] | None, log: Path) -> None:
        self.command, self.log = command, log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [str(BIN / command), *args], env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float = WAIT_S) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"{self.command} did not exit within {timeout:.0f} s:\n{self.text()[-3000:]}"
            ) from None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait()


def read_messages(kafka_config: dict[str, Any], topic: str, count: int) -> list[Message]:
    """Up to ``count`` committed messages from the start of ``topic``, in a fresh group, within WAIT_S."""
    consumer = Consumer(
        {
            **kafka_config,
            "group.id": f"audit-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    messages: list[Message] = []
    deadline = time.monotonic() + WAIT_S
    try:
        while len(messages) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                messages.append(msg)
    finally:
        consumer.close()
    return messages
