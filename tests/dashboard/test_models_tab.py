"""The Models tab in Debian's chromium, fed by a real consumer with a shadow candidate through the real broker:
what it shows is what the consumer published."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from common import contract
from common.config import DEFAULT_MODEL_DIR
from common.readers import read_records
from dashboard.aggregates import LiveStats
from dashboard.app import create_app
from dashboard.stream import StartPosition, StreamReader
from localkafka.harness import ConsumerProcess, Topics, item_ids, produce, read_topic, review_items
from tests.dashboard.helpers import screenshot, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def _cells(driver, table_id: str) -> list[list[str]]:
    rows = [
        [cell.text for cell in row.find_elements(By.CSS_SELECTOR, "td")]
        for row in driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")
    ]
    return [row for row in rows if row]  # the header row sits in tbody too, with th cells


def test_the_models_tab_shows_the_served_model_beside_its_shadow(
    chrome, browse, kafka_bootstrap, make_topic, candidate_model: Path, default_predictor, review_data: Path, tmp_path
) -> None:
    topics = Topics(
        kafka_bootstrap,
        make_topic("mt-in"),
        make_topic("mt-out"),
        make_topic("mt-dlq", 1),
        f"mt-{uuid.uuid4().hex[:8]}",
    )
    reviews = list(read_records(review_data / "amazon_polarity" / "test.sample.ft.txt.bz2", limit=300))
    items = review_items(reviews, 300, prefix="mt")
    consumer = ConsumerProcess(
        [*topics.flags(), "--instance-id", topics.group, "--shadow-model-dir", str(candidate_model)],
        tmp_path / "consumer.log",
    ).start()
    stats = LiveStats()
    reader = StreamReader(
        {"bootstrap.servers": kafka_bootstrap, "group.id": f"dash-{topics.group}"},
        topics.output,
        stats,
        StartPosition("beginning"),
        check_interval_s=0.5,
    ).start()
    try:
        consumer.wait_ready()
        produce(kafka_bootstrap, topics.input, items)
        results = [
            contract.decode_result(m.value() or b"")
            for m in read_topic(kafka_bootstrap, topics.output, ids=item_ids(items))
        ]
        browse(
            create_app(
                stats, topic=topics.output, start="beginning", scorer=default_predictor, model_dir=DEFAULT_MODEL_DIR
            )
        )
        wait_for(lambda: chrome.find_element(By.ID, "tab-models"), what="the Models tab").click()

        served, shadow = results[0].model_version, results[0].shadow.model_version  # type: ignore[union-attr]  # every result here has a shadow verdict
        disagreements = [r for r in results if r.shadow.label != r.label]  # type: ignore[union-attr]  # every result here has a shadow verdict
        wait_for(
            lambda: (
                f"on {len(results) - len(disagreements):,} of {len(results):,} reviews"
                in chrome.find_element(By.ID, "models-summary").text
            ),
            what="the agreement summary",
        )
        accuracy = {(row[0], row[1]): row for row in _cells(chrome, "models-accuracy")}
        served_right = sum(r.label == r.true_label for r in results)
        shadow_right = sum(r.shadow.label == r.true_label for r in results)  # type: ignore[union-attr]  # every result here has a shadow verdict
        assert accuracy[(served, "served")][2:] == [
            str(len(results)),
            _pct(sum(r.label == "positive" for r in results), len(results)),
            str(len(results)),
            _pct(served_right, len(results)),
        ]
        assert accuracy[(shadow, "shadow")][5] == _pct(shadow_right, len(results))
        drift = {row[1]: row for row in _cells(chrome, "models-drift")}
        reference = default_predictor.metadata["reference"]
        assert drift["out-of-vocabulary words"][3] == f"{reference['oov_share']:.1%}"
        oov = sum(r.oov_tokens for r in results) / sum(r.tokens for r in results)  # type: ignore[misc]  # the consumer sets both counts
        assert drift["out-of-vocabulary words"][2] == f"{oov:.1%}"
        shown = _cells(chrome, "models-disagreements")
        assert len(disagreements) > 0 and len(shown) == min(10, len(disagreements))
        assert {row[0] for row in shown} <= {r.text for r in disagreements}
        assert chrome.find_elements(By.CSS_SELECTOR, "#models-agreement .main-svg")
        screenshot(chrome, "models")
    finally:
        reader.stop()
        consumer.kill()


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.1%}"
