"""Keyboard and screen-reader access in Debian's chromium: tab order, live regions, and axe-core's WCAG 2.2 AA checks.

axe-core comes from npm (tests/dashboard/package.json, installed by `make test` with `npm ci`) and is injected
into the page under test; every rule tagged WCAG 2.0/2.1/2.2 A or AA must pass on each tab, with data shown.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from common.contract import decode_result
from dashboard.aggregates import BrokerState, LiveStats
from dashboard.analysis import Limits
from dashboard.app import create_app
from dashboard.live_view import WINDOWS
from tests.conftest import require
from tests.dashboard.helpers import make_results, screenshot, wait_for

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
LIVE_REGIONS = ("live-banner", "review-result-region", "csv-message", "csv-status")
LIVE_PAIRS = (
    [("positive", "positive")] * 6 + [("negative", "negative")] * 3 + [("negative", "positive")]
)  # (predicted, true)


@pytest.fixture(scope="module")
def axe_source() -> str:
    require(AXE.exists(), f"{AXE} is missing (npm ci in tests/dashboard)")
    return AXE.read_text(encoding="utf-8")


def axe_violations(driver, axe_source: str) -> list[str]:
    """axe-core's WCAG A/AA violations on the page as it is now, one line each: rule, impact, the elements."""
    if not driver.execute_script("return !!window.axe"):
        driver.execute_script(axe_source)
    found = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        axe.run(document, {runOnly: {type: "tag", values: arguments[0]}, resultTypes: ["violations"]})
           .then(r => done(r.violations.map(v => `${v.id} (${v.impact}): ${v.help}: ` +
                                             v.nodes.slice(0, 5).map(n => n.target.join(" ")).join(" | "))))
           .catch(e => done([`axe failed: ${e}`]));
        """,
        WCAG_22_AA,
    )
    return list(found)


@pytest.fixture
def live_stats() -> LiveStats:
    """Live results already read, so the charts and the table hold data."""
    stats = LiveStats()
    for value in make_results(LIVE_PAIRS):
        stats.add(decode_result(value))
    return stats


@pytest.fixture
def a11y_app(default_predictor, browse, live_stats):
    """The app with the default model and live results, open in the browser."""
    from common.config import DEFAULT_MODEL_DIR

    app = create_app(
        live_stats,
        topic="reviews.sentiment",
        start="latest",
        scorer=default_predictor,
        model_dir=DEFAULT_MODEL_DIR,
        limits=Limits(max_bytes=200_000, max_rows=500),
    )
    return browse(app)


def focused(driver) -> str:
    """The focused element: its id, else the nearest id around it and its tag (``csv-upload>input``)."""
    return driver.execute_script(
        "const e = document.activeElement, around = e.parentElement && e.parentElement.closest('[id]');"
        "return e.id || `${around ? around.id : ''}>${e.tagName.toLowerCase()}`"
    )


def tab_through(driver, presses: int = 12) -> list[str]:
    """What the Tab key reaches from the top of the page, in order."""
    ActionChains(driver).click(driver.find_element(By.TAG_NAME, "h1")).perform()  # where sequential focus starts
    reached = []
    for _ in range(presses):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        reached.append(focused(driver))
    return reached


def selected_tab(driver) -> list[str]:
    return [t.get_attribute("id") for t in driver.find_elements(By.CSS_SELECTOR, "[role=tab][aria-selected=true]")]


def remember_live_regions(driver) -> None:
    """Keep a reference to each live region as the page has it now: an announcement needs the region to be there
    before its text changes (a region inserted together with its text is not read out)."""
    driver.execute_script(
        "window.__regions = Object.fromEntries(arguments[0].map(id => [id, document.getElementById(id)]))",
        list(LIVE_REGIONS),
    )


def announced(driver, region: str) -> str:
    """The text now in a live region remembered earlier, or '' when the region was replaced or is not live."""
    return driver.execute_script(
        """
        const r = window.__regions[arguments[0]];
        const live = r.getAttribute("aria-live") || {status: "polite", alert: "assertive"}[r.getAttribute("role")];
        const busy = r.getAttribute("aria-busy") === "true";
        return r.isConnected && r === document.getElementById(arguments[0]) && live && live !== "off" && !busy
            ? r.innerText : "";
        """,
        region,
    )


def test_the_keyboard_reaches_every_control_and_opens_every_tab(chrome, a11y_app):
    wait_for(lambda: chrome.find_element(By.ID, "kpi-reviews").text == "10", what="the live results")
    assert chrome.execute_script("return document.documentElement.lang") == "en"
    reached = tab_through(chrome)
    assert reached[:9] == ["tab-live", "tab-analyse", "tab-models", "tab-model"] + [
        f"live-window-{w}" for w in WINDOWS
    ], reached
    chrome.find_element(By.ID, "live-window-60").send_keys(Keys.ENTER)
    wait_for(
        lambda: chrome.find_element(By.ID, "live-window-60").get_attribute("aria-pressed") == "true",
        what="the window, chosen",
    )
    assert [b.get_attribute("id") for b in chrome.find_elements(By.CSS_SELECTOR, "[aria-pressed=true]")] == [
        "live-window-60"
    ]
    wait_for(lambda: "last 1 min" in chrome.find_element(By.ID, "live-kpis").text, what="the KPIs for the last minute")

    chrome.find_element(By.ID, "tab-analyse").send_keys(Keys.ENTER)
    wait_for(lambda: chrome.find_element(By.ID, "panel-analyse").is_displayed(), what="the Analyse panel after Enter")
    assert selected_tab(chrome) == ["tab-analyse"] and not chrome.find_element(By.ID, "panel-live").is_displayed()
    reached = tab_through(chrome)
    assert reached[:7] == [
        "tab-live",
        "tab-analyse",
        "tab-models",
        "tab-model",
        "review-text",
        "review-button",
        "csv-upload>input",
    ], reached
    assert "csv-column" in reached[7], reached
    upload = chrome.find_element(By.ID, "csv-upload")
    zone = chrome.find_element(By.CSS_SELECTOR, "#csv-upload .upload, #csv-upload.upload")
    ActionChains(chrome).click(chrome.find_element(By.ID, "review-button")).send_keys(Keys.TAB).perform()
    assert focused(chrome) == "csv-upload>input" and upload.is_displayed()
    assert chrome.execute_script("return getComputedStyle(arguments[0]).outlineStyle", zone) == "solid", (
        "the zone shows the focus"
    )

    chrome.find_element(By.ID, "tab-analyse").send_keys(Keys.ARROW_RIGHT)
    wait_for(
        lambda: chrome.find_element(By.ID, "panel-models").is_displayed(), what="the Models panel after the right arrow"
    )
    assert selected_tab(chrome) == ["tab-models"] and focused(chrome) == "tab-models"
    chrome.find_element(By.ID, "tab-models").send_keys(Keys.ARROW_RIGHT)
    wait_for(
        lambda: chrome.find_element(By.ID, "panel-model").is_displayed(), what="the Model panel after the right arrow"
    )
    assert selected_tab(chrome) == ["tab-model"] and focused(chrome) == "tab-model"
    screenshot(chrome, "a11y-model-by-keyboard")


def test_results_progress_and_errors_are_announced(chrome, a11y_app, live_stats, default_predictor, tmp_path):
    wait_for(lambda: chrome.find_element(By.ID, "tab-analyse"), what="the page").click()
    wait_for(lambda: chrome.find_element(By.ID, "review-text").is_displayed(), what="the Analyse panel")
    label = chrome.find_element(By.CSS_SELECTOR, "label[for=review-text]")
    assert label.text.strip(), "the review box has a visible label"
    remember_live_regions(chrome)

    live_stats.set_broker(BrokerState(False, None, "Connect to kafka:9092 failed", time.time()))
    wait_for(
        lambda: "Cannot reach Kafka" in announced(chrome, "live-banner"), what="the lost broker, announced on every tab"
    )

    chrome.find_element(By.ID, "review-button").click()
    wait_for(lambda: "empty" in announced(chrome, "review-result-region"), what="the empty-review message, announced")
    text = "Lovely sound, and it arrived early."
    chrome.find_element(By.ID, "review-text").send_keys(text)
    chrome.find_element(By.ID, "review-button").click()
    [(verdict, p_negative)] = default_predictor.predict([text])
    wait_for(lambda: f"{p_negative:.3f}" in announced(chrome, "review-result-region"), what="the verdict, announced")
    assert verdict in announced(chrome, "review-result-region").lower()

    good = tmp_path / "reviews.csv"
    pd.DataFrame({"text": ["Works well.", "Broke in a day."] * 20}).to_csv(good, index=False)
    chrome.find_element(By.CSS_SELECTOR, "#csv-upload input[type=file]").send_keys(str(good))
    wait_for(lambda: "40 rows" in announced(chrome, "csv-status"), timeout=60, what="the file's result, announced")
    bar = chrome.find_element(By.ID, "csv-progress-bar")
    assert (bar.get_attribute("role"), bar.get_attribute("aria-valuenow"), bar.get_attribute("aria-valuemax")) == (
        "progressbar",
        "100",
        "100",
    )
    labels = default_predictor.predict(["Works well.", "Broke in a day."])
    counts = {"positive": 0, "negative": 0}
    for label, _ in labels:
        counts[label] += 20
    alt = chrome.find_element(By.ID, "csv-bar-alt").get_attribute("aria-label")
    assert chrome.find_element(By.ID, "csv-bar-alt").get_attribute("role") == "img"
    assert all(f"{name} {count}" in alt for name, count in counts.items() if count), alt

    bad = tmp_path / "no-text.csv"
    bad.write_text("id,body\n1,fine\n")
    chrome.find_element(By.CSS_SELECTOR, "#csv-upload input[type=file]").send_keys(str(bad))
    wait_for(lambda: "Pick the text column" in announced(chrome, "csv-message"), what="the refusal, announced at once")


def test_axe_core_finds_no_wcag_22_aa_violation_on_any_tab(chrome, a11y_app, axe_source, tmp_path):
    wait_for(lambda: chrome.find_element(By.ID, "kpi-reviews").text == "10", what="the live results")
    wait_for(lambda: chrome.find_elements(By.CSS_SELECTOR, "#live-latest tbody tr"), what="the latest reviews")
    wait_for(
        lambda: "Reviews per label: positive" in chrome.find_element(By.ID, "live-bar-alt").get_attribute("aria-label"),
        what="the charts' text alternatives",
    )
    problems = {"live": axe_violations(chrome, axe_source)}
    alt = chrome.find_element(By.ID, "live-pie-alt").get_attribute("aria-label")
    positives = sum(label == "positive" for label, _ in LIVE_PAIRS)
    shares = {"positive": positives, "negative": len(LIVE_PAIRS) - positives}
    assert all(f"{label} {n} ({n / len(LIVE_PAIRS):.1%})" in alt for label, n in shares.items()), alt

    chrome.find_element(By.ID, "tab-analyse").click()
    source = tmp_path / "reviews.csv"
    pd.DataFrame({"id": [1, 2, 3], "text": ["Great value.", "", "Stopped working, do not buy."]}).to_csv(
        source, index=False
    )
    chrome.find_element(By.CSS_SELECTOR, "#csv-upload input[type=file]").send_keys(str(source))
    wait_for(lambda: "3 rows" in chrome.find_element(By.ID, "csv-status").text, timeout=60, what="the CSV result")
    chrome.find_element(By.ID, "review-button").click()
    wait_for(lambda: chrome.find_elements(By.ID, "review-error"), what="the review error")
    problems["analyse"] = axe_violations(chrome, axe_source)
    screenshot(chrome, "a11y-analyse")

    chrome.find_element(By.ID, "tab-models").click()
    wait_for(lambda: chrome.find_element(By.ID, "models-summary").text, what="the Models panel")
    problems["models"] = axe_violations(chrome, axe_source)
    screenshot(chrome, "a11y-models")

    chrome.find_element(By.ID, "tab-model").click()
    wait_for(lambda: chrome.find_element(By.ID, "model-page").is_displayed(), what="the Model panel")
    problems["model"] = axe_violations(chrome, axe_source)
    assert problems == {"live": [], "analyse": [], "models": [], "model": []}, "\n".join(
        f"{tab}: {v}" for tab, found in problems.items() for v in found
    )
