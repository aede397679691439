"""The Prometheus configuration and alert rules: valid for promtool, unit-tested, and used by a real server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.parse
import uuid

import pytest
import yaml

from localkafka.demo import prometheus_config
from localkafka.harness import free_port
from localkafka.processes import Child, wait_until
from producer.send import send_reviews
from tests.deploy.conftest import PROJECT_ROOT, PROMETHEUS_DIR, VENV_BIN, http_get, tool

CONFIGS = ["prometheus.yml", "prometheus.local.yml"]


@pytest.mark.parametrize("name", CONFIGS)
def test_scrape_configs_are_valid(name):
    result = subprocess.run(
        [tool("promtool"), "check", "config", str(PROMETHEUS_DIR / name)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_are_valid_and_pass_their_unit_tests():
    promtool = tool("promtool")
    check = subprocess.run(
        [promtool, "check", "rules", str(PROMETHEUS_DIR / "alerts.yml")], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run(
        [promtool, "test", "rules", "tests/deploy/alerts_test.yml"], capture_output=True, text=True, cwd=PROJECT_ROOT
    )
    assert unit.returncode == 0 and "SUCCESS" in unit.stdout, unit.stdout + unit.stderr


def test_alerts_name_only_metrics_the_consumer_exports():
    from consumer.metrics import ConsumerMetrics

    exported = {sample.name for family in ConsumerMetrics().registry.collect() for sample in family.samples}
    exported |= {family.name for family in ConsumerMetrics().registry.collect()}
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    named = {
        name
        for group in rules["groups"]
        for rule in group["rules"]
        for name in re.findall(r"\bsentiment_[a-z_]+", rule["expr"])
    }
    assert named, "the rules name no sentiment_ metric"
    # A labelled family has no samples until used: accept its family name plus the type's suffixes.
    families = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in exported}
    assert {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in named} <= families


def test_both_configs_scrape_the_same_jobs_with_the_same_rules():
    docker, local = (yaml.safe_load((PROMETHEUS_DIR / name).read_text()) for name in CONFIGS)
    assert docker["rule_files"] == local["rule_files"] == ["alerts.yml"]
    jobs = {c["job_name"] for c in local["scrape_configs"]}
    assert jobs <= {c["job_name"] for c in docker["scrape_configs"]}
    assert {"sentiment-consumer", "sentiment-dashboard"} <= jobs


@pytest.mark.integration
@pytest.mark.slow
def test_real_prometheus_scrapes_a_running_consumer(tmp_path, kafka_bootstrap, make_topic, default_model):
    prometheus_bin = tool("prometheus")
    topics = {"input": make_topic("prom-in", 2), "output": make_topic("prom-out", 2), "dlq": make_topic("prom-dlq", 1)}
    metrics_port, prometheus_port = free_port(), free_port()
    env = {
        **os.environ,
        "SENTIMENT_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "SENTIMENT_INPUT_TOPIC": topics["input"],
        "SENTIMENT_OUTPUT_TOPIC": topics["output"],
        "SENTIMENT_DLQ_TOPIC": topics["dlq"],
        "SENTIMENT_GROUP_ID": f"prom-test-{uuid.uuid4().hex[:8]}",
        "SENTIMENT_METRICS_PORT": str(metrics_port),
    }
    config = prometheus_config(metrics_port, free_port())  # the demo's configuration; no dashboard runs here
    (tmp_path / "prometheus.yml").write_text(config.replace("_interval: 5s", "_interval: 1s"))

    consumer = Child.start("consumer", [str(VENV_BIN / "sentiment-consumer")], tmp_path / "consumer.log", env=env)
    prometheus = Child.start(
        "prometheus",
        [
            prometheus_bin,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ],
        tmp_path / "prometheus.log",
    )
    api = f"http://127.0.0.1:{prometheus_port}/api/v1"
    try:

        def ready() -> bool:
            return http_get(f"http://127.0.0.1:{metrics_port}/readyz")[0] == 200

        exited = wait_until(ready, 180, [consumer, prometheus])
        assert exited is None, f"{exited.name} exited early:\n{exited.log_tail()}"

        sent = 250
        reviews = [
            {"text": f"Review {i}: {'great value' if i % 2 else 'broke at once'}.", "id": f"p{i}"} for i in range(sent)
        ]
        assert send_reviews({"bootstrap.servers": kafka_bootstrap}, topics["input"], reviews).sent == sent

        def query(expr: str) -> list[dict]:
            status, body = http_get(f"{api}/query?query={urllib.parse.quote(expr)}")
            return json.loads(body)["data"]["result"] if status == 200 else []

        def consumed() -> float | None:
            result = query('sum(sentiment_messages_consumed_total{job="sentiment-consumer"})')
            return float(result[0]["value"][1]) if result else None

        try:
            exited = wait_until(lambda: consumed() == sent, 120, [consumer, prometheus], interval=1.0)
        except TimeoutError:
            pytest.fail(f"Prometheus saw {consumed()} consumed, expected {sent}:\n{consumer.log_tail()}")
        assert exited is None, f"{exited.name} exited early:\n{exited.log_tail()}"
        up = query('up{job="sentiment-consumer"}')
        assert [(r["metric"]["instance"], r["value"][1]) for r in up] == [(f"127.0.0.1:{metrics_port}", "1")]

        def rules() -> list[dict]:
            status, body = http_get(f"{api}/rules")
            assert status == 200, body
            return [rule for group in json.loads(body)["data"]["groups"] for rule in group["rules"]]

        assert {rule["name"] for rule in rules()} >= {
            "SentimentConsumerDown",
            "SentimentConsumerLagGrowing",
            "SentimentDeadLetterRateHigh",
            "SentimentLatencyP99High",
        }

        # "unknown" is a rule not evaluated yet: wait for one evaluation of every rule (1 s apart here), then each
        # must have run without error against the real metrics.
        def evaluated() -> bool:
            return all(rule["health"] != "unknown" for rule in rules())

        try:
            exited = wait_until(evaluated, 30, [prometheus], interval=0.5)
        except TimeoutError:
            pytest.fail(f"rules never evaluated: {[(r['name'], r['health']) for r in rules()]}")
        assert exited is None, f"{exited.name} exited early:\n{exited.log_tail()}"
        failing = [(rule["name"], rule["health"], rule.get("lastError")) for rule in rules() if rule["health"] != "ok"]
        assert not failing, failing
    finally:
        prometheus.stop()
        consumer.stop(grace=30)
