"""Helpers of the dashboard tests: screenshots, waiting on the page, results on a real topic."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from common.contract import Review, encode_result, scored
from common.labels import Label
from common.paths import PROJECT_ROOT

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
    raise AssertionError(
        f"timed out after {timeout} s waiting for {what}" + (f" (last error: {last_error})" if last_error else "")
    )


def component_props(tree: Any, component_id: str) -> dict[str, Any]:
    """The props of the component with ``component_id`` in a layout: Dash components, or the JSON a callback's
    reply carries them as. AssertionError when there is none."""
    import plotly.utils

    found = _find_props(json.loads(json.dumps(tree, cls=plotly.utils.PlotlyJSONEncoder)), component_id)
    assert found is not None, (
        f"no component {component_id!r} in {json.dumps(tree, cls=plotly.utils.PlotlyJSONEncoder)[:300]}"
    )
    return found


def _find_props(node: Any, component_id: str) -> dict[str, Any] | None:
    if isinstance(node, list):
        return next((found for child in node if (found := _find_props(child, component_id)) is not None), None)
    if not isinstance(node, dict):
        return None
    props = node.get("props")
    if isinstance(props, dict) and props.get("id") == component_id:
        return props
    return next((found for child in node.values() if (found := _find_props(child, component_id)) is not None), None)


def make_results(labels: Iterable[tuple[str, str | None]], model_version: str = "test-model") -> list[bytes]:
    """Output values for (predicted label, true label) pairs (the labels' words), encoded by the contract."""
    now = time.time()
    values = []
    for i, (label, true_label) in enumerate(labels):
        review = Review(
            id=f"r{i}-{uuid.uuid4().hex[:6]}",
            text=f"review number {i} " + "words " * 10,
            true_label=None if true_label is None else Label(true_label),
            event_time=now - 0.05,
        )
        verdict = (Label(label), 0.8 if label == Label.NEGATIVE else 0.2)
        values.append(encode_result(scored(review, verdict, model_version, now)))
    return values


def produce(bootstrap: str, topic: str, values: Iterable[bytes | None]) -> int:
    """Produce ``values`` to ``topic`` and wait until the broker has every one."""
    from common import kafka

    producer = kafka.make_producer({"bootstrap.servers": bootstrap})
    count = 0
    for value in values:
        kafka.produce(producer, topic, value)
        count += 1
    assert producer.flush(30) == 0, "not every result reached the broker"
    return count
