"""Helpers of the dashboard tests: screenshots, waiting on the page, results on a real topic."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable

from common.contract import Review, encode_result

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = PROJECT_ROOT / "test-output" / "screenshots"


def screenshot(driver, name: str) -> Path:
    """Save the whole page (not just the window) to test-output/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1440, max(1100, min(int(height) + 40, 4000)))
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1440, 1100)
    return path


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - elements come and go while Dash re-renders
            last_error = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}" + (f" (last error: {last_error})" if last_error else ""))


def make_results(labels: Iterable[tuple[str, str | None]], model_version: str = "test-model") -> list[bytes]:
    """Output values for (predicted label, true label) pairs, encoded by the contract."""
    now = time.time()
    values = []
    for i, (label, true_label) in enumerate(labels):
        review = Review(id=f"r{i}-{uuid.uuid4().hex[:6]}", text=f"review number {i} " + "words " * 10,
                        true_label=true_label, event_time=now - 0.05)
        values.append(encode_result(review, label, 0.8 if label == "negative" else 0.2, model_version, now))
    return values


def produce(bootstrap: str, topic: str, values: Iterable[bytes | None]) -> int:
    """Produce ``values`` to ``topic`` and wait until the broker has every one."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    count = 0
    for value in values:
        producer.produce(topic, value)
        count += 1
    assert producer.flush(30) == 0, "not every result reached the broker"
    return count
