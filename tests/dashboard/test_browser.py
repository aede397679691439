"""The dashboard in Debian's chromium against the real broker: live counts, one review, a CSV, the model page."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import time
from collections.abc import Iterator

import pandas as pd
import pytest
from selenium.webdriver.common.by import By

from common.labels import Label
from dashboard.aggregates import LiveStats
from dashboard.analysis import Limits, human_size
from dashboard.app import create_app
from dashboard.stream import StartPosition, StreamReader
from localkafka import LocalKafka, create_topics
from tests.dashboard.helpers import make_results, produce, screenshot, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def _text(driver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def _severe_console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


@pytest.fixture
def live_app(kafka_bootstrap, make_topic, browse):
    """An app reading a fresh topic from the beginning, open in the browser; yields (url, topic)."""
    topic = make_topic("dash-live", partitions=3)
    stats = LiveStats()
    reader = StreamReader(
        {"bootstrap.servers": kafka_bootstrap, "group.id": f"dash-{topic}"},
        topic,
        stats,
        StartPosition("beginning"),
        check_interval_s=0.5,
    ).start()
    app = create_app(stats, topic=topic, start="beginning", scorer=None, model_dir=None)
    yield browse(app), topic
    reader.stop()


def test_live_view_shows_exactly_what_was_produced(chrome, live_app, kafka_bootstrap):
    _, topic = live_app
    wait_for(lambda: "Waiting for data" in _text(chrome, "live-banner"), what="the waiting-for-data banner")
    assert _text(chrome, "status-pill") == "waiting for data"
    screenshot(chrome, "live-waiting")

    pairs = (
        [("positive", "positive")] * 21
        + [("negative", "negative")] * 12
        + [("negative", "positive")] * 3
        + [("positive", None)] * 4
    )
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


@pytest.fixture
def model_app(default_predictor, browse):
    """An app with the default model and no live data (the live view is not under test here), open in the browser."""
    from common.config import DEFAULT_MODEL_DIR

    app = create_app(
        LiveStats(),
        topic="unused",
        start="latest",
        scorer=default_predictor,
        model_dir=DEFAULT_MODEL_DIR,
        limits=Limits(max_bytes=200_000, max_rows=500),
    )
    return browse(app)


def _open_tab(driver, label: str) -> None:
    wait_for(
        lambda: driver.find_elements(By.XPATH, f"//*[@role='tab' and normalize-space()='{label}']"),
        what=f"the {label} tab",
    )
    driver.find_element(By.XPATH, f"//*[@role='tab' and normalize-space()='{label}']").click()


def test_analyse_one_review(chrome, model_app, default_predictor):
    _open_tab(chrome, "Analyse")
    wait_for(lambda: chrome.find_element(By.ID, "review-text"), what="the text box")
    chrome.find_element(By.ID, "review-button").click()
    wait_for(lambda: "empty" in _text(chrome, "review-error"), what="the empty-input message")

    text = "Stopped working after a week. The worst purchase I have made, do not buy it."
    chrome.find_element(By.ID, "review-text").send_keys(text)
    chrome.find_element(By.ID, "review-button").click()
    [(label, p_negative)] = default_predictor.predict([text])
    # The page capitalises the label with CSS; its text is the Predictor's own label.
    wait_for(
        lambda: chrome.find_element(By.ID, "review-label").get_attribute("textContent") == label,
        what=f"the label {label!r}",
    )
    assert _text(chrome, "review-p-negative") == f"{p_negative:.3f}"
    explanation = default_predictor.explain(text)
    shaded = chrome.find_element(By.ID, "review-explained-text")
    assert shaded.get_attribute("textContent") == text, "the review is shown whole"
    words = shaded.find_elements(By.CSS_SELECTOR, "span.xword")
    assert [w.get_attribute("textContent") for w in words] == [w.text for w in explanation.words]
    strongest = explanation.top_negative[0]
    shade = words[explanation.words.index(strongest)].value_of_css_property("background-color")
    assert shade.startswith("rgba(214, 69, 69"), shade
    first = chrome.find_element(By.CSS_SELECTOR, "#review-top-negative li").get_attribute("textContent")
    assert first.startswith(f"{strongest.text} +") and first.endswith(" pp")
    screenshot(chrome, "analyse-one")
    assert _severe_console_errors(chrome) == []


def test_upload_a_csv_and_download_the_labelled_result(chrome, model_app, default_predictor, downloads, tmp_path):
    texts = [
        "Great value, works perfectly and arrived early.",
        "",
        '=HYPERLINK("http://evil")',
        "Broke on day two. Refund please.",
        "12345",
    ]
    texts += [f"Review {i}: the sound is clear and the battery lasts for days." for i in range(40)]
    source = tmp_path / "reviews.csv"
    pd.DataFrame({"id": range(len(texts)), "text": texts}).to_csv(source, index=False)

    _open_tab(chrome, "Analyse")
    upload = wait_for(
        lambda: chrome.find_element(By.CSS_SELECTOR, "#csv-upload input[type=file]"), what="the upload input"
    )
    chrome.find_element(By.ID, "csv-explain").click()  # with the words that carried each verdict
    wait_for(
        lambda: chrome.find_element(By.ID, "csv-explain").get_attribute("aria-pressed") == "true", what="the toggle on"
    )
    upload.send_keys(str(source))
    wait_for(lambda: "45 rows" in _text(chrome, "csv-status"), timeout=60, what="the CSV result")
    status = _text(chrome, "csv-status")
    assert "2 not scored" in status
    expected = default_predictor.predict([t for t in texts if t.strip() and t != "12345"])
    negatives = sum(label == "negative" for label, _ in expected)
    assert f"{len(expected) - negatives:,} positive, {negatives:,} negative" in status
    assert len(chrome.find_elements(By.CSS_SELECTOR, "#csv-preview tbody tr")) > 1
    screenshot(chrome, "analyse-csv")

    for old in downloads.glob("*"):
        old.unlink()
    chrome.find_element(By.ID, "csv-download-button").click()
    path = wait_for(lambda: next(iter(downloads.glob("reviews.sentiment.csv")), None), what="the download")
    wait_for(lambda: not list(downloads.glob("*.crdownload")), what="the download to finish")
    result = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert len(result) == len(texts)
    assert result["id"].tolist() == [str(i) for i in range(len(texts))]
    assert result.loc[2, "text"] == "'" + texts[2]
    assert str(result.loc[1, "status"]).startswith("not scored") and result.loc[1, "predicted_label"] == ""
    assert str(result.loc[4, "status"]).startswith("not scored")
    scored = result[result["status"] == "ok"]
    assert scored["predicted_label"].tolist() == [label for label, _ in expected]
    strongest = default_predictor.explain(texts[3], top=3).top_negative[0].text
    assert str(result.loc[3, "words_toward_negative"]).startswith(f"{strongest} (+"), result.loc[3].to_dict()
    assert result.loc[1, "words_toward_negative"] == "", "no words for a row the model did not judge"
    assert _severe_console_errors(chrome) == [], "nothing on the page broke (the CSP lets every script run)"


def test_upload_over_the_limit_gets_a_clear_message(chrome, browse, tmp_path):
    app = create_app(
        LiveStats(), topic="unused", start="latest", scorer=None, model_dir=None, limits=Limits(max_bytes=2048)
    )
    big = tmp_path / "big.csv"
    big.write_text("text\n" + "a fine review\n" * 400)
    browse(app)
    _open_tab(chrome, "Analyse")
    wait_for(
        lambda: chrome.find_element(By.CSS_SELECTOR, "#csv-upload input[type=file]"), what="the upload input"
    ).send_keys(str(big))
    wait_for(lambda: "the limit is 2.0 KB" in _text(chrome, "csv-error"), what="the size message")
    assert f"big.csv is {human_size(big.stat().st_size)}" in _text(chrome, "csv-error")


def test_model_page(chrome, model_app, default_predictor):
    _open_tab(chrome, "Model")
    wait_for(lambda: default_predictor.version in _text(chrome, "model-page"), what="the model version")
    assert chrome.find_elements(By.CSS_SELECTOR, "#model-confusion .main-svg")
    assert "accuracy" in _text(chrome, "model-metrics")
    screenshot(chrome, "model")
    assert _severe_console_errors(chrome) == []


def _free_port_pair() -> int:
    """A port P with P and P+1 free (the broker's listener and its controller)."""
    for _ in range(100):
        port = random.randint(20_000, 60_000)
        try:
            for candidate in (port, port + 1):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no two adjacent free ports")


@pytest.fixture
def own_broker(kafka_bootstrap) -> Iterator[LocalKafka]:
    """A broker of this test's own (it gets paused; the shared one never is)."""
    port = _free_port_pair()
    broker = LocalKafka(port=port, controller_port=port + 1)
    broker.start()
    yield broker
    if (pid := broker.pid()) is not None:  # a broker that has gone needs no SIGCONT
        os.kill(pid, signal.SIGCONT)
    broker.stop(timeout=5)
    shutil.rmtree(broker.instance, ignore_errors=True)


@pytest.mark.slow
def test_broker_outage_shows_a_banner_and_recovers_without_a_reload(chrome, browse, own_broker):
    """The broker stops answering (SIGSTOP: a hung broker or a network partition), then comes back."""
    topic = "dash-outage"
    create_topics({"bootstrap.servers": own_broker.bootstrap}, [topic], 1)
    stats = LiveStats()
    reader = StreamReader(
        {"bootstrap.servers": own_broker.bootstrap, "reconnect.backoff.max.ms": 1000},
        topic,
        stats,
        StartPosition("beginning"),
        check_interval_s=0.5,
    ).start()
    try:
        browse(create_app(stats, topic=topic, start="beginning", scorer=None, model_dir=None))
        produce(own_broker.bootstrap, topic, make_results([("positive", None)] * 5))
        wait_for(lambda: _text(chrome, "kpi-reviews") == "5", what="the first results")

        os.kill(own_broker.pid(), signal.SIGSTOP)
        wait_for(lambda: "Cannot reach Kafka" in _text(chrome, "live-banner"), what="the broker-unreachable banner")
        assert _text(chrome, "status-pill") == "broker unreachable"
        assert _text(chrome, "kpi-reviews") == "5", "what was read stays on the page"
        screenshot(chrome, "live-broker-unreachable")

        os.kill(own_broker.pid(), signal.SIGCONT)
        produce(own_broker.bootstrap, topic, make_results([("negative", None)] * 3))
        wait_for(lambda: _text(chrome, "kpi-reviews") == "8", timeout=60, what="the results after the broker returned")
        wait_for(lambda: not chrome.find_elements(By.ID, "banner-text"), what="the banner to go")
        assert _text(chrome, "kpi-negative") == "3"
    finally:
        reader.stop()


class SlowScorer:
    """Scores like the keyword stand-in, slowly, so a test can watch the progress of a long file."""

    version = "slow-test"

    def judge(self, texts):
        time.sleep(0.3)
        return [(Label.NEGATIVE, 0.9) if "bad" in t else (Label.POSITIVE, 0.1) for t in texts]


def test_a_long_file_shows_progress(chrome, browse, tmp_path):
    source = tmp_path / "long.csv"
    pd.DataFrame({"text": [f"review {i} is {'bad' if i % 4 == 0 else 'fine'}" for i in range(1500)]}).to_csv(
        source, index=False
    )
    browse(create_app(LiveStats(), topic="unused", start="latest", scorer=SlowScorer(), model_dir=None))
    _open_tab(chrome, "Analyse")
    wait_for(
        lambda: chrome.find_element(By.CSS_SELECTOR, "#csv-upload input[type=file]"), what="the upload input"
    ).send_keys(str(source))
    wait_for(
        lambda: (
            "Scoring long.csv" in _text(chrome, "csv-status")
            and chrome.find_element(By.ID, "csv-progress-box").is_displayed()
            and "(0%)" not in _text(chrome, "csv-status")
        ),
        what="the progress of a long file",
    )
    screenshot(chrome, "analyse-csv-progress")
    wait_for(
        lambda: "1,500 rows, 1,125 positive, 375 negative" in _text(chrome, "csv-status"), what="the finished file"
    )
    assert not chrome.find_element(By.ID, "csv-progress-box").is_displayed()


def test_reloading_while_a_file_scores_picks_the_job_up_again(chrome, browse, tmp_path):
    """A regression: a reload at 63% lost the results while the job kept the scoring line busy."""
    source = tmp_path / "reload.csv"
    pd.DataFrame({"text": [f"review {i} is {'bad' if i % 5 == 0 else 'fine'}" for i in range(1500)]}).to_csv(
        source, index=False
    )
    browse(create_app(LiveStats(), topic="unused", start="latest", scorer=SlowScorer(), model_dir=None))
    _open_tab(chrome, "Analyse")
    wait_for(
        lambda: chrome.find_element(By.CSS_SELECTOR, "#csv-upload input[type=file]"), what="the upload input"
    ).send_keys(str(source))
    wait_for(lambda: "Scoring reload.csv" in _text(chrome, "csv-status"), what="scoring to start")
    assert "?job=" in chrome.current_url, "the job is in the page's address"
    chrome.refresh()
    wait_for(lambda: "reload.csv" in _text(chrome, "csv-status"), what="the job after the reload")
    assert chrome.find_element(By.ID, "csv-status").is_displayed(), "the reload opens the Analyse tab"
    wait_for(
        lambda: "1,500 rows, 1,200 positive, 300 negative" in _text(chrome, "csv-status"), what="the finished file"
    )
    assert _severe_console_errors(chrome) == []


def _pick(driver, dropdown_id: str, option: str) -> None:
    """Choose ``option`` in a dcc.Dropdown as a user does: open it, click the option."""
    driver.find_element(By.ID, dropdown_id).click()
    choice = wait_for(
        lambda: [
            e
            for e in driver.find_elements(By.XPATH, f"//*[normalize-space()='{option}']")
            if e.is_displayed() and e.get_attribute("id") != dropdown_id
        ][-1],
        what=f"the option {option!r}",
    )
    choice.click()


def test_the_column_picker_follows_each_new_file(chrome, browse, tmp_path, keyword_scorer):
    """A regression: after 'Review Body' was picked for one file, the next one (with a text column) was refused."""
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    pd.DataFrame({"id": [1, 2, 3], "Review Body": ["a bad lamp", "lovely", "bad bulb"]}).to_csv(first, index=False)
    pd.DataFrame({"text": ["fine", "bad", "nice", "great"], "stars": [5, 1, 4, 5]}).to_csv(second, index=False)
    browse(create_app(LiveStats(), topic="unused", start="latest", scorer=keyword_scorer, model_dir=None))
    _open_tab(chrome, "Analyse")
    upload = wait_for(
        lambda: chrome.find_element(By.CSS_SELECTOR, "#csv-upload input[type=file]"), what="the upload input"
    )
    upload.send_keys(str(first))
    wait_for(lambda: "no column 'text'" in _text(chrome, "csv-error"), what="the missing-column message")
    _pick(chrome, "csv-column", "Review Body")
    wait_for(
        lambda: "first.csv: 3 rows, 1 positive, 2 negative" in _text(chrome, "csv-status"), what="the first file scored"
    )
    chrome.find_element(By.CSS_SELECTOR, "#csv-upload input[type=file]").send_keys(str(second))
    wait_for(
        lambda: "second.csv: 4 rows, 3 positive, 1 negative" in _text(chrome, "csv-status"),
        what="the second file scored",
    )
    assert not chrome.find_elements(By.ID, "csv-error")
    assert "text" in _text(chrome, "csv-column")
    screenshot(chrome, "analyse-csv-picker")
    assert _severe_console_errors(chrome) == []
