"""The Flask side without a browser: headers, request limits, errors, /metrics, /healthz, the CLI's start-up checks."""

from __future__ import annotations

import io
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.parse
import urllib.request

import pandas as pd
import pytest

from common.config import ConfigError
from common.contract import Result
from common.labels import Label
from dashboard.aggregates import LiveStats
from dashboard.analysis import Limits
from dashboard.app import create_app
from dashboard.metrics import request_kind
from dashboard.security import max_request_bytes
from tests.dashboard.helpers import component_props, make_results, produce, wait_for


@pytest.fixture
def stats() -> LiveStats:
    return LiveStats()


@pytest.fixture
def client(stats, keyword_scorer):
    app = create_app(
        stats, topic="t", start="latest", scorer=keyword_scorer, model_dir=None, limits=Limits(max_bytes=3000)
    )
    return app.server.test_client()


def test_security_headers_on_every_response(client):
    for path in ("/", "/metrics", "/healthz", "/_dash-layout"):
        response = client.get(path)
        assert response.status_code == 200, path
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "'unsafe-eval'" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"


def test_request_bodies_over_the_limit_are_refused_from_the_header(client):
    too_big = max_request_bytes(3000) + 1
    response = client.post("/_dash-update-component", data=b"x" * too_big, content_type="application/json")
    assert response.status_code == 413


def test_errors_never_show_a_traceback(client):
    response = client.post(
        "/_dash-update-component", data=b'{"output": "nonsense", "inputs": 3}', content_type="application/json"
    )
    assert response.status_code >= 400
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and 'File "' not in body


def _callback(client, output: str, inputs: list, state: list | None = None) -> dict:
    component, prop = output.split(".")
    body = {
        "output": output,
        "outputs": {"id": component, "property": prop},
        "inputs": inputs,
        "state": state or [],
        "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"],
    }
    response = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
    assert response.status_code in (200, 204), response.get_data(as_text=True)[:500]
    return response.get_json() if response.status_code == 200 else {}


def _analyse(client, text: str, clicks: int = 1) -> dict:
    return _callback(
        client,
        "review-result.children",
        [{"id": "review-button", "property": "n_clicks", "value": clicks}],
        [{"id": "review-text", "property": "value", "value": text}],
    )


@pytest.mark.parametrize("expected", ["negative", "positive"])
def test_single_review_callback_round_trip(expected, clear_reviews, default_predictor):
    """A real review of a known label, through the callback, comes back with the verdict the model gives it."""
    app = create_app(LiveStats(), topic="t", start="latest", scorer=default_predictor, model_dir=None)
    text = clear_reviews[expected]
    [(label, p_negative)] = default_predictor.predict([text])
    assert label == expected
    reply = _analyse(app.server.test_client(), text)
    assert component_props(reply, "review-label")["children"] == expected
    assert component_props(reply, "review-p-negative")["children"] == f"{p_negative:.3f}"


def test_single_review_callback_refuses_blank_text(client):
    reply = _analyse(client, "   ", clicks=2)
    assert "empty" in component_props(reply, "review-error")["children"]


def test_metrics_count_requests_and_records(client, stats):
    stats.add(Result(id="1", label=Label.POSITIVE, p_negative=0.1, model_version="v", scored_at=0.0))
    stats.add_unreadable()
    stats.set_lag(4)
    client.get("/")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'sentiment_dashboard_requests_total{kind="page"} 1.0' in text
    assert 'sentiment_dashboard_records_read_total{outcome="ok"} 1.0' in text
    assert 'sentiment_dashboard_records_read_total{outcome="unreadable"} 1.0' in text
    assert "sentiment_dashboard_reader_lag 4.0" in text


def test_metrics_export_the_live_confusion_matrix_for_accuracy(client, stats):
    pairs = [("negative", "negative")] * 3 + [("positive", "negative")] * 2 + [("positive", "positive")] * 5
    for i, (true_label, label) in enumerate(pairs):
        stats.add(
            Result(
                id=str(i),
                label=Label(label),
                p_negative=0.5,
                model_version="v",
                scored_at=0.0,
                true_label=Label(true_label),
            )
        )
    stats.add(Result(id="unlabelled", label=Label.NEGATIVE, p_negative=0.9, model_version="v", scored_at=0.0))
    text = client.get("/metrics").get_data(as_text=True)
    for true_label in ("negative", "positive"):
        for label in ("negative", "positive"):  # every cell, the empty one too: PromQL sums stay defined
            expected = float(pairs.count((true_label, label)))
            line = f'sentiment_dashboard_labelled_results_total{{label="{label}",true_label="{true_label}"}} {expected}'
            assert line in text, line


def test_request_kinds_are_a_fixed_set():
    assert request_kind("/_dash-update-component") == "callback"
    assert request_kind("/") == "page"
    assert request_kind("/anything/a-stranger/invents") == "other"


def test_healthz(client):
    assert client.get("/healthz").get_data(as_text=True) == "ok\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--start", "yesterday"], "--start='yesterday'"),
        (["--max-upload-mb", "0"], "--max-upload-mb"),
        (["--max-rows", "-3"], "--max-rows"),
        (["--dashboard-port", "99999"], "--dashboard-port"),
    ],
)
def test_bad_configuration_is_refused_before_anything_starts(args, message):
    from dashboard.cli import main

    with pytest.raises(ConfigError, match=re.escape(message)):
        main(args)


def test_an_unloadable_model_fails_at_start_up_with_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "dashboard", "--model-dir", "/nonexistent/model"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot load the model from /nonexistent/model"), proc.stderr


@pytest.mark.integration
def test_the_command_serves_the_page_and_metrics_and_stops_on_sigterm(kafka_bootstrap, make_topic, default_predictor):
    topic = make_topic("dash-cli", partitions=2)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dashboard",
            "--bootstrap-servers",
            kafka_bootstrap,
            "--output-topic",
            topic,
            "--dashboard-port",
            str(port),
            "--start",
            "beginning",
            "--dashboard-group-id",
            f"dash-cli-{topic}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: urllib.request.urlopen(base + "/healthz", timeout=2).status == 200,
            timeout=60,
            what="the dashboard to listen",
        )
        page = urllib.request.urlopen(base + "/", timeout=5)
        assert page.headers["X-Frame-Options"] == "DENY" and "Review sentiment" in page.read().decode()
        produce(kafka_bootstrap, topic, make_results([("positive", None)] * 6 + [("negative", None)] * 2))

        def metrics() -> str:
            return urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()

        wait_for(
            lambda: 'sentiment_dashboard_records_read_total{outcome="ok"} 8.0' in metrics(),
            what="8 records in /metrics",
        )
        assert "sentiment_dashboard_reader_lag" in metrics()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr[-2000:]
    logged = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(entry.get("url") == f"http://127.0.0.1:{port}/" for entry in logged), (
        "the start-up line says where it listens"
    )
    assert logged[-1]["msg"] == "stopped", "SIGTERM stops the server and the reader cleanly"


def test_an_installed_package_carries_the_stylesheet_and_the_upload_check():
    """Without its assets an installed dashboard (the Docker image) would have no style and no upload size check."""
    import tomllib
    from fnmatch import fnmatch
    from pathlib import Path

    import dashboard

    root = Path(dashboard.__file__).parent
    pyproject = tomllib.loads((root.parent / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"].get("dashboard", [])
    for asset in ("assets/style.css", "assets/upload.js"):
        assert (root / asset).is_file()
        assert any(fnmatch(asset, pattern) for pattern in patterns), f"{asset} is not in [tool.setuptools.package-data]"


# -- the CSV callbacks and the results download, as the page calls them ------------------------


def _dispatch(client, inputs: list[dict], state: list[dict] | None = None, triggered: str | None = None) -> dict:
    """Call the callback whose inputs are ``inputs`` as the page does; its outputs by 'id.property'."""
    ids = [i["id"] for i in inputs]
    [dep] = [d for d in client.get("/_dash-dependencies").get_json() if [i["id"] for i in d["inputs"]] == ids]
    output = dep["output"]
    outputs = [dict(zip(("id", "property"), o.split(".", 1), strict=False)) for o in output.strip(".").split("...")]
    body = {
        "output": output,
        "outputs": outputs,
        "inputs": inputs,
        "state": state or [],
        "changedPropIds": [triggered or f"{ids[0]}.{inputs[0]['property']}"],
    }
    response = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
    assert response.status_code in (200, 204), response.get_data(as_text=True)[:500]
    reply = response.get_json()["response"] if response.status_code == 200 else {}
    return {f"{component}.{prop}": value for component, props in reply.items() for prop, value in props.items()}


def _upload(client, data: bytes, filename: str, column: str = "", last_choice: str = "", explain: str = "") -> dict:
    """POST a file as assets/upload.js does; the server's reply."""
    query = urllib.parse.urlencode({"name": filename, "column": column, "last": last_choice, "explain": explain})
    response = client.post(f"/csv-upload?{query}", data=data, content_type="application/octet-stream")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_json()


@pytest.fixture
def scoring_client(stats, keyword_scorer):
    app = create_app(
        stats, topic="t", start="latest", scorer=keyword_scorer, model_dir=None, limits=Limits(max_bytes=100_000)
    )
    return app.server.test_client()


def test_the_column_picker_follows_each_new_file(scoring_client):
    """A regression: after 'Review Body' was picked for one file, the next file with a text column was refused."""
    first = b"id,Review Body\n1,a bad lamp\n"
    refused = _upload(scoring_client, first, "a.csv")
    assert "no column 'text'" in refused["error"] and refused["columns"] == ["id", "Review Body"]
    shown = _dispatch(scoring_client, [{"id": "csv-reply", "property": "data", "value": {**refused, "picked": None}}])
    assert "no column 'text'" in json.dumps(shown["csv-message.children"]) and shown["csv-job.data"] is None
    picked = _upload(scoring_client, first, "a.csv", column="Review Body")
    assert picked["job"] and picked["column"] == "Review Body"
    shown = _dispatch(
        scoring_client, [{"id": "csv-reply", "property": "data", "value": {**picked, "picked": "Review Body"}}]
    )
    assert shown["csv-job.data"] == picked["job"] and shown["csv-column-choice.data"] == "Review Body"
    assert shown["url.search"] == f"?job={picked['job']}" and shown["csv-message.children"] is None
    # The next file starts from its own 'text'; one without it, from the earlier pick.
    second = _upload(scoring_client, b"text,stars\nfine,5\n", "b.csv", last_choice="Review Body")
    assert second["job"] and second["column"] == "text"
    third = _upload(scoring_client, b"stars,Review Body\n5,lovely\n", "c.csv", last_choice="Review Body")
    assert third["job"] and third["column"] == "Review Body"


def test_an_upload_over_the_limit_is_refused_before_its_body_is_read(keyword_scorer):
    from dashboard import uploads
    from dashboard.jobs import CsvJobs

    def unread() -> bytes:
        raise AssertionError("the body was read")

    reply = uploads.receive(CsvJobs(keyword_scorer), Limits(max_bytes=1000), "big.csv", None, None, 1400, unread)
    assert reply == {"error": "big.csv is 1.4 KB; the limit is 1000 bytes.", "columns": None}


def test_an_upload_with_no_free_slot_is_told_to_try_again_unread(keyword_scorer):
    from dashboard import uploads
    from dashboard.jobs import BUSY, CsvJobs

    jobs = CsvJobs(keyword_scorer, max_waiting=1)
    hold = threading.Event()
    keyword_scorer.predict = lambda texts: hold.wait(30) and [(Label.POSITIVE, 0.1)] * len(texts)
    jobs.submit(pd.DataFrame({"text": ["x"]}), "text", "first.csv")

    def unread() -> bytes:
        raise AssertionError("the body was read")

    assert uploads.receive(jobs, Limits(), "second.csv", None, None, 100, unread) == {"error": BUSY, "columns": None}
    assert BUSY == "The dashboard is busy with other files; try again in a minute."
    hold.set()
    jobs.shutdown()


def test_download_streams_the_labelled_csv_and_an_expired_one_says_so(scoring_client):
    started = _upload(scoring_client, b"id,text\n1,a bad lamp\n2,=1+1\n3,lovely\n", "lamps.csv")
    job_id = started["job"]
    wait_for(lambda: scoring_client.get(f"/csv-results/{job_id}").status_code == 200, what="the result")
    response = scoring_client.get(f"/csv-results/{job_id}")
    assert "filename=lamps.sentiment.csv" in response.headers["Content-Disposition"]
    back = pd.read_csv(io.BytesIO(response.get_data()), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert back["predicted_label"].tolist() == ["negative", "positive", "positive"] and back["text"][1] == "'=1+1"
    clicked = _dispatch(
        scoring_client,
        [{"id": "csv-download-button", "property": "n_clicks", "value": 1}],
        [{"id": "csv-job", "property": "data", "value": job_id}],
    )
    assert clicked["csv-download-url.data"].startswith(f"/csv-results/{job_id}")

    gone = "f" * 32  # a job that expired (or never was): a message, not a silent no-op
    clicked = _dispatch(
        scoring_client,
        [{"id": "csv-download-button", "property": "n_clicks", "value": 2}],
        [{"id": "csv-job", "property": "data", "value": gone}],
    )
    assert "expired; upload the file again" in json.dumps(clicked) and "csv-download-url.data" not in clicked
    assert scoring_client.get(f"/csv-results/{gone}").status_code == 404


def test_a_page_address_with_a_job_opens_it_on_the_analyse_tab(scoring_client):
    job_id = "ab" * 16
    restored = _dispatch(
        scoring_client,
        [{"id": "url", "property": "search", "value": f"?job={job_id}"}],
        [{"id": "csv-job", "property": "data", "value": None}],
    )
    assert restored == {"csv-job.data": job_id, "tab-request.data": "analyse"}


def test_an_upload_asked_to_explain_gets_the_word_columns(stats, default_predictor):
    app = create_app(
        stats, topic="t", start="latest", scorer=default_predictor, model_dir=None, limits=Limits(max_bytes=100_000)
    )
    client = app.server.test_client()
    data = b'text\nThe product is terrible and broke in a day\n"Lovely kettle, works great"\n'
    for explain, expected in (("1", True), ("", False)):
        reply = _upload(client, data, "words.csv", explain=explain)
        assert "job" in reply, reply
        job_id = reply["job"]
        wait_for(lambda: client.get(f"/csv-results/{job_id}").status_code == 200, what="the result")  # noqa: B023 - called at once
        table = pd.read_csv(io.BytesIO(client.get(f"/csv-results/{job_id}").data), encoding="utf-8-sig")
        assert ("words_toward_negative" in table.columns) is expected
        if expected:
            top = default_predictor.explain("The product is terrible and broke in a day", top=3).top_negative[0].text
            assert table["words_toward_negative"][0].startswith(f"{top} (+")
