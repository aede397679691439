"""The dashboard in Debian's chromium against the real broker: live counts, one review, a CSV, the model page."""

from __future__ import annotations

import pandas as pd
import pytest
from selenium.webdriver.common.by import By

from dashboard.aggregates import LiveStats
from dashboard.analysis import Limits
from dashboard.app import create_app
from dashboard.stream import StartPosition, StreamReader

from tests.dashboard.helpers import make_results, produce, screenshot, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def _text(driver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def _severe_console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


@pytest.fixture
def live_app(kafka_bootstrap, make_topic, serve):
    """An app reading a fresh topic from the beginning; yields (url, topic)."""
    topic = make_topic("dash-live", partitions=3)
    stats = LiveStats()
    reader = StreamReader({"bootstrap.servers": kafka_bootstrap, "group.id": f"dash-{topic}"}, topic, stats,
                          StartPosition("beginning"), check_interval_s=0.5).start()
    app = create_app(stats, topic=topic, start="beginning", scorer=None, model_dir=None)
    yield serve(app), topic
    reader.stop()


def test_live_view_shows_exactly_what_was_produced(chrome, live_app, kafka_bootstrap):
    url, topic = live_app
    chrome.get(url)
    wait_for(lambda: "Waiting for data" in _text(chrome, "live-banner"), what="the waiting-for-data banner")
    assert _text(chrome, "status-pill") == "waiting for data"
    screenshot(chrome, "live-waiting")

    pairs = [("positive", "positive")] * 21 + [("negative", "negative")] * 12 + [("negative", "positive")] * 3 + [("positive", None)] * 4
    produced = produce(kafka_bootstrap, topic, make_results(pairs) + [b"not a result"])
    assert produced == 41

    wait_for(lambda: _text(chrome, "kpi-reviews") == "40", what="40 reviews on the page")
    assert _text(chrome, "kpi-positive") == "25"
    assert _text(chrome, "kpi-negative") == "15"
    assert _text(chrome, "kpi-read") == "41"
    assert "1 unreadable" in chrome.find_element(By.ID, "live-kpis").text
    # 33 of 36 labelled results are right.
    wait_for(lambda: "91.7%" in _text(chrome, "live-accuracy"), what="the live accuracy")
    assert "36" in _text(chrome, "live-accuracy")
    rows = chrome.find_elements(By.CSS_SELECTOR, "#live-latest tbody tr")
    assert len(rows) > 1
    assert chrome.find_elements(By.CSS_SELECTOR, "#live-bar .main-svg")
    assert chrome.find_elements(By.CSS_SELECTOR, "#live-pie .main-svg")
    assert not chrome.find_elements(By.ID, "banner-text")
    assert _text(chrome, "status-pill").startswith("live")

    more = produce(kafka_bootstrap, topic, make_results([("negative", None)] * 7))
    wait_for(lambda: _text(chrome, "kpi-negative") == str(15 + more), what="the counts to update without a reload")
    assert _text(chrome, "kpi-reviews") == "47"
    screenshot(chrome, "live")
    assert _severe_console_errors(chrome) == []
