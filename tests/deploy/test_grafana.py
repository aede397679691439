"""The Grafana dashboard: every panel's PromQL parses (promtool), and every metric it or the alert rules name is
exported by the real services, scraped here from a running sentiment-consumer and sentiment-dashboard."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import promql_parser
import psutil
import pytest
import yaml
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from localkafka.harness import free_port
from localkafka.processes import Child, wait_until
from producer.send import send_reviews
from tests.deploy.conftest import PROJECT_ROOT, PROMETHEUS_DIR, VENV_BIN, http_get, tool
from tests.deploy.test_k8s import container_of, mebibytes, one_object, render

GRAFANA = PROJECT_ROOT / "deploy" / "grafana"
DASHBOARD = json.loads((GRAFANA / "dashboards" / "review-sentiment.json").read_text())
# Grafana fills these in before a query reaches Prometheus; promtool needs a value of the same kind.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
# Series Prometheus makes itself for every target; no service exports them.
PROMETHEUS_MADE = {"up"}
# Labels Prometheus adds to every scraped series (job, instance) or the Operator's PodMonitors add.
TARGET_LABELS = {"job", "instance", "namespace", "pod", "container"}


def _panel_expressions() -> dict[str, str]:
    """'panel title / refId' -> PromQL with Grafana's variables filled in."""
    found = {}
    for panel in DASHBOARD["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"{panel['title']}: unknown Grafana variable in {expr}"
            found[f"{panel['title']} / {target['refId']}"] = expr
    return found


def _alert_expressions() -> dict[str, str]:
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    return {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}


def _nodes(node) -> Iterator[object]:
    """Every node of a parsed PromQL expression."""
    yield node
    for attribute in ("lhs", "rhs", "expr", "param", "vector_selector"):
        child = getattr(node, attribute, None)
        if child is not None and not isinstance(child, (str, int, float)):
            yield from _nodes(child)
    for argument in getattr(node, "args", None) or []:
        yield from _nodes(argument)


def _selectors(node) -> list:
    return [n for n in _nodes(node) if isinstance(n, promql_parser.VectorSelector)]


def _uses(expr: str) -> dict[str, set[str]]:
    """Metric name -> the label names the expression expects on it (matchers, and grouping labels around it)."""
    tree = promql_parser.parse(expr)
    uses: dict[str, set[str]] = {}
    for selector in _selectors(tree):
        labels = {m.name for m in selector.matchers.matchers if m.name != "__name__"}
        uses.setdefault(selector.name, set()).update(labels)
    for node in _nodes(tree):
        if (
            isinstance(node, promql_parser.AggregateExpr)
            and node.modifier is not None
            and node.modifier.type == promql_parser.AggModifierType.By
        ):
            for selector in _selectors(node.expr):
                uses[selector.name] |= set(node.modifier.labels)
    return uses


def test_the_dashboard_covers_the_streams_health():
    used = {name for expr in _panel_expressions().values() for name in _uses(expr)}
    for family in (
        "sentiment_messages_consumed_total",
        "sentiment_end_to_end_latency_seconds_bucket",
        "sentiment_consumer_lag",
        "sentiment_batch_size_bucket",
        "sentiment_dead_letters_total",
        "sentiment_predictions_total",
        "sentiment_dashboard_labelled_results_total",
        "sentiment_model_info",
        "sentiment_commits_total",
        "sentiment_rebalances_total",
        "sentiment_dropped_fields_total",
    ):
        assert family in used, f"no panel shows {family}"
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    assert all(t["datasource"]["uid"] == "${datasource}" for p in DASHBOARD["panels"] for t in p.get("targets", []))


def test_every_panel_expression_parses_with_promtool(tmp_path):
    expressions = _panel_expressions()
    rules = {
        "groups": [
            {
                "name": "grafana-panels",
                "rules": [{"record": f"panel:{i}", "expr": expr} for i, expr in enumerate(expressions.values())],
            }
        ]
    }
    (tmp_path / "panels.yml").write_text(yaml.safe_dump(rules))
    result = subprocess.run(
        [tool("promtool"), "check", "rules", str(tmp_path / "panels.yml")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(expressions)} rules found" in result.stdout


def test_compose_provisions_grafana_with_the_prometheus_data_source_and_the_dashboard():
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    grafana = compose["services"]["grafana"]
    mounts = {target: source for source, target, *_ in (v.split(":") for v in grafana["volumes"])}
    assert (PROJECT_ROOT / mounts["/etc/grafana/provisioning"]).resolve() == GRAFANA / "provisioning"
    (source,) = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())["datasources"]
    prometheus = compose["services"]["prometheus"]
    port = prometheus["ports"][0].rsplit(":", 1)[1]
    assert source["type"] == "prometheus" and source["url"] == f"http://prometheus:{port}" and source["isDefault"]
    (provider,) = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "review-sentiment.yml").read_text())[
        "providers"
    ]
    assert (PROJECT_ROOT / mounts[provider["options"]["path"]]).resolve() == GRAFANA / "dashboards"
    home = Path(grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert (GRAFANA / "dashboards" / home.relative_to(provider["options"]["path"])).is_file()
    assert grafana["depends_on"]["prometheus"]["condition"] == "service_healthy"


def _samples(port: int) -> list:
    """The samples of a real /metrics page; none while it does not answer."""
    status, body = http_get(f"http://127.0.0.1:{port}/metrics")
    return (
        [s for family in text_string_to_metric_families(body.decode()) for s in family.samples] if status == 200 else []
    )


def _names_and_labels(samples: list) -> dict[str, set[str]]:
    exported: dict[str, set[str]] = {}
    for sample in samples:
        exported.setdefault(sample.name, set()).update(sample.labels)
    return exported


def _value(samples: list, name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


@pytest.mark.integration
def test_every_metric_the_dashboard_and_alerts_name_is_exported_by_the_running_services(
    tmp_path, kafka_bootstrap, make_topic, default_model
):
    topics = {"input": make_topic("graf-in", 2), "output": make_topic("graf-out", 2), "dlq": make_topic("graf-dlq", 1)}
    metrics_port, dashboard_port = free_port(), free_port()
    env = {
        **os.environ,
        "SENTIMENT_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "SENTIMENT_INPUT_TOPIC": topics["input"],
        "SENTIMENT_OUTPUT_TOPIC": topics["output"],
        "SENTIMENT_DLQ_TOPIC": topics["dlq"],
        "SENTIMENT_GROUP_ID": f"graf-{uuid.uuid4().hex[:8]}",
        "SENTIMENT_METRICS_PORT": str(metrics_port),
        "SENTIMENT_DASHBOARD_PORT": str(dashboard_port),
        "SENTIMENT_DASHBOARD_GROUP_ID": f"graf-dash-{uuid.uuid4().hex[:8]}",
    }
    # A shadow candidate (the default model under another version), so its series exist as well.
    shadow = tmp_path / "shadow"
    shutil.copytree(default_model, shadow)
    metadata = json.loads((shadow / "metadata.json").read_text())
    (shadow / "metadata.json").write_text(json.dumps({**metadata, "version": f"{metadata['version']}-shadow"}))
    env["SENTIMENT_SHADOW_MODEL_DIR"] = str(shadow)
    expressions = {
        **{f"panel {k}": v for k, v in _panel_expressions().items()},
        **{f"alert {k}": v for k, v in _alert_expressions().items()},
    }
    needed = {name for expr in expressions.values() for name in _uses(expr)} - PROMETHEUS_MADE
    consumer = Child.start(
        "consumer", [str(VENV_BIN / "sentiment-consumer"), "--threads", "1"], tmp_path / "consumer.log", env=env
    )
    dashboard = Child.start(
        "dashboard",
        [str(VENV_BIN / "sentiment-dashboard"), "--start", "beginning"],
        tmp_path / "dashboard.log",
        env=env,
    )
    try:

        def ready() -> bool:
            return (
                http_get(f"http://127.0.0.1:{metrics_port}/readyz")[0] == 200
                and http_get(f"http://127.0.0.1:{dashboard_port}/healthz")[0] == 200
            )

        exited = wait_until(ready, 180, [consumer, dashboard])
        assert exited is None, f"{exited.name} exited early:\n{exited.log_tail()}"
        reviews = [
            {
                "text": f"Review {i}: {'great value' if i % 2 else 'broke at once'}.",
                "id": f"g{i}",
                "label": "positive" if i % 2 else "negative",
            }
            for i in range(200)
        ]
        assert (
            send_reviews({"bootstrap.servers": kafka_bootstrap}, topics["input"], reviews, with_labels=True).sent == 200
        )
        _send_raw(kafka_bootstrap, topics["input"], b'{"id": "no-text"}')  # a dead letter: the reason-labelled series
        _send_raw(kafka_bootstrap, topics["input"], b'{"text": "Fine.", "ts": "yesterday"}')  # scored, its ts dropped

        def exported_now() -> dict[str, set[str]]:
            return _names_and_labels(_samples(metrics_port) + _samples(dashboard_port))

        def everything_seen() -> bool:
            """The dashboard read every result, and every series named exists (the lag gauge comes every 2 s)."""
            read = _value(_samples(dashboard_port), "sentiment_dashboard_records_read_total", outcome="ok")
            return read == 201 and needed <= exported_now().keys()

        try:
            exited = wait_until(everything_seen, 60, [consumer, dashboard], interval=0.5)
            assert exited is None, f"{exited.name} exited early:\n{exited.log_tail()}"
        except TimeoutError:
            pass  # the assertions below say what is missing
        exported = exported_now()
        rss_mb = {child.name: psutil.Process(child.pid).memory_info().rss / 2**20 for child in (consumer, dashboard)}
        print("RSS after 202 messages: " + ", ".join(f"{k} {v:.0f} MiB" for k, v in rss_mb.items()))
    finally:
        dashboard.stop()
        consumer.stop(grace=30)

    missing, unlabelled = [], []
    for where, expr in expressions.items():
        for name, labels in _uses(expr).items():
            if name in PROMETHEUS_MADE:
                continue
            if name not in exported:
                missing.append(f"{where}: {name}")
            elif labels - exported[name] - TARGET_LABELS:
                unlabelled.append(f"{where}: {name} has no {sorted(labels - exported[name] - TARGET_LABELS)}")
    assert not missing, "metrics nothing exports:\n" + "\n".join(missing)
    assert not unlabelled, "labels the metric does not carry:\n" + "\n".join(unlabelled)

    # The Kubernetes memory requests hold what the real services used here (bench/RESULTS.md has the heavier figures).
    base = render("base")
    for child, kind in (("consumer", "StatefulSet"), ("dashboard", "Deployment")):
        request = container_of(one_object(base, kind, f"sentiment-{child}"))["resources"]["requests"]["memory"]
        assert rss_mb[child] < mebibytes(request), f"{child}: {rss_mb[child]:.0f} MiB RSS, request {request}"


def _send_raw(bootstrap: str, topic: str, value: bytes) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, value)
    assert producer.flush(30) == 0
