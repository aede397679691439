"""The consumer's real output in Debian's chromium: real reviews from data/ produced to the real broker, scored by a
real ``sentiment-consumer`` process, read by the dashboard and compared with what a read_committed reader of the
output topic counts on its own."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from itertools import product
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from common.labels import Label
from dashboard.aggregates import LiveStats
from dashboard.app import create_app
from dashboard.stream import StartPosition, StreamReader
from localkafka.harness import ConsumerProcess, Topics, item_ids, produce, read_topic, review_items
from tests.conftest import TEST_SAMPLE
from tests.dashboard.helpers import screenshot, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

REVIEWS = 150


def _text(driver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def test_the_live_view_shows_what_the_consumer_published(
    chrome, browse, kafka_bootstrap, make_topic, review_data, tmp_path: Path
):
    from common.readers import read_records

    topics = Topics(
        kafka_bootstrap,
        make_topic("dash-in", 4),
        make_topic("dash-out", 4),
        make_topic("dash-dlq", 1),
        f"g-{uuid.uuid4().hex[:10]}",
    )
    stats = LiveStats()
    reader = StreamReader(
        {"bootstrap.servers": kafka_bootstrap, "group.id": f"dash-{topics.output}"},
        topics.output,
        stats,
        StartPosition("beginning"),
        check_interval_s=0.5,
    ).start()
    consumer = ConsumerProcess(
        [
            *topics.flags(),
            "--instance-id",
            f"test-{uuid.uuid4().hex[:8]}",
            "--max-wait-ms",
            "50",
            "-X",
            "session.timeout.ms=6000",
        ],
        tmp_path / "consumer.log",
    ).start()
    try:
        browse(create_app(stats, topic=topics.output, start="beginning", scorer=None, model_dir=None))
        wait_for(lambda: "Waiting for data" in _text(chrome, "live-banner"), what="the waiting-for-data banner")
        consumer.wait_ready()
        items = review_items(list(read_records(TEST_SAMPLE, limit=REVIEWS)), REVIEWS)
        produce(kafka_bootstrap, topics.input, items)

        # What the output topic holds, counted without the dashboard's code: its committed values as plain JSON.
        published = [
            json.loads(m.value() or b"") for m in read_topic(kafka_bootstrap, topics.output, ids=item_ids(items))
        ]
        assert {doc["id"] for doc in published} == item_ids(items), consumer.log_tail()
        labels = Counter(doc["label"] for doc in published)
        assert set(labels) == {"negative", "positive"}, labels
        labelled = [doc for doc in published if "true_label" in doc]
        correct = sum(doc["label"] == doc["true_label"] for doc in labelled)

        wait_for(
            lambda: _text(chrome, "kpi-reviews") == f"{len(published):,}", what=f"{len(published)} reviews on the page"
        )
        assert _text(chrome, "kpi-negative") == f"{labels['negative']:,}"
        assert _text(chrome, "kpi-positive") == f"{labels['positive']:,}"
        wait_for(
            lambda: (
                _text(chrome, "live-accuracy")
                == f"Live accuracy {correct / len(labelled):.1%} on {len(labelled):,} reviews that carry a true label"
            ),
            what="the live accuracy",
        )
        bars = wait_for(
            lambda: sorted(e.text for e in chrome.find_elements(By.CSS_SELECTOR, "#live-bar text.bartext")),
            what="the distribution's bars",
        )
        assert bars == sorted(f"{count:,}" for count in labels.values())
        described = chrome.find_element(By.ID, "live-bar-alt").get_attribute("aria-label")
        assert all(f"{label} {count:,}" in described for label, count in labels.items()), described
        confusion = Counter((doc["true_label"], doc["label"]) for doc in labelled)
        described = chrome.find_element(By.ID, "live-confusion-alt").get_attribute("aria-label")
        assert all(
            f"true {truth}, predicted {label}: {confusion[truth, label]:,}" in described
            for truth, label in product(Label, Label)
        ), described
        assert _text(chrome, "status-pill").startswith("live")
        screenshot(chrome, "live-consumer")
    finally:
        consumer.kill()
        reader.stop()
