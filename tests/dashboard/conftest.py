"""Fixtures of the dashboard tests: a served app, Debian's chromium, results on a real topic.

The browser is /usr/bin/chromium driven through /usr/bin/chromedriver (never a
downloaded one), headless and without any background networking. Apps are
served by the same waitress server as in production, on a free port.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from common.labels import Label
from tests.conftest import TEST_SAMPLE, require

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROME_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1440,1100",
)


class KeywordScorer:
    """A stand-in for the model where a test checks plumbing, not predictions: "bad" means negative (it judges
    every text; what the model cannot judge is tested with the real one)."""

    version = "keyword-test"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def judge(self, texts):
        self.calls.append(len(texts))
        return [(Label.NEGATIVE, 0.9) if "bad" in t.lower() else (Label.POSITIVE, 0.1) for t in texts]


@pytest.fixture
def keyword_scorer() -> KeywordScorer:
    return KeywordScorer()


@pytest.fixture(scope="session")
def default_predictor(default_model_dir: Path):
    """The committed default model through the fast path."""
    from model.predictor import Predictor

    return Predictor.load(default_model_dir)


@pytest.fixture(scope="session")
def clear_reviews(review_data: Path, default_predictor) -> dict[Label, str]:
    """{label: text}: one real review of each label from the test sample that the default model judges right and
    clearly (p(negative) below 0.05 or above 0.95). The label is the data set's, not the model's."""
    from common.readers import read_records

    records = list(read_records(TEST_SAMPLE, limit=200))
    found: dict[Label, str] = {}
    for record, (label, p_negative) in zip(records, default_predictor.predict([r.text for r in records]), strict=True):
        if label == record.label and min(p_negative, 1 - p_negative) < 0.05:
            found.setdefault(label, record.text)
    assert set(found) == set(Label), f"the default model judges no review of the test sample clearly: {found}"
    return found


@pytest.fixture
def serve() -> Iterator[Callable]:
    """serve(app) -> base URL: the app behind waitress on a free port, closed after the test."""
    from waitress.server import create_server

    servers = []
    closing = threading.Event()

    def run(server) -> None:
        try:
            server.run()
        except OSError:  # close() from this thread pulls the sockets from under the server's select()
            if not closing.is_set():
                raise

    def start(app) -> str:
        server = create_server(app.server, host="127.0.0.1", port=0, threads=4)
        servers.append(server)
        threading.Thread(target=run, args=(server,), daemon=True).start()
        return f"http://127.0.0.1:{server.effective_port}"  # type: ignore[union-attr]  # one host and port: one socket

    yield start
    closing.set()
    for server in servers:
        server.close()


@pytest.fixture(scope="session")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="session")
def chrome(downloads: Path):
    """One headless Debian chromium for the session."""
    require(CHROMIUM.exists() and CHROMEDRIVER.exists(), "Debian's chromium and chromium-driver are not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture
def browse(chrome, serve) -> Iterator[Callable]:
    """browse(app) -> URL: serve ``app`` and open it; the page is left before the server closes."""

    def open_app(app) -> str:
        url = serve(app)
        chrome.get_log("browser")  # drop what earlier pages logged
        chrome.get(url)
        return url

    yield open_app
    chrome.get("about:blank")
