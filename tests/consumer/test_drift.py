"""Drift signals on the real broker: in-domain reviews keep the out-of-vocabulary share near the training
reference, garbled ones push it over the alert's threshold, and the alert rule itself (promtool) agrees."""

from __future__ import annotations

import json
import random
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from common.paths import PROJECT_ROOT
from localkafka.harness import Topics, produce, review_items
from tests.deploy.conftest import tool

pytestmark = pytest.mark.integration


def garbled(text: str, rng: random.Random) -> str:
    """The review with the letters of most words shuffled: still text, mostly words no vocabulary holds."""
    words = text.split()
    return " ".join("".join(rng.sample(w, len(w))) if len(w) > 3 and rng.random() < 0.8 else w for w in words)


def _counters(consumer, version: str) -> tuple[float, float]:
    scrape = consumer.metrics()
    labels = (("model_version", version),)
    return scrape.get(("sentiment_tokens_total", labels), 0.0), scrape.get(("sentiment_oov_tokens_total", labels), 0.0)


def _alert_fires(tmp_path: Path, reference: float, tokens_per_minute: float, oov_per_minute: float) -> bool:
    """Whether SentimentVocabularyDrift fires on a steady stream with these rates (promtool, the real rule file)."""
    steady = {
        "rule_files": [str(PROJECT_ROOT / "deploy" / "prometheus" / "alerts.yml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'sentiment_reference{model_version="m", statistic="oov_share"}',
                        "values": f"{reference}x30",
                    },
                    {"series": 'sentiment_tokens_total{model_version="m"}', "values": f"0+{tokens_per_minute}x30"},
                    {"series": 'sentiment_oov_tokens_total{model_version="m"}', "values": f"0+{oov_per_minute}x30"},
                ],
                "alert_rule_test": [{"eval_time": "30m", "alertname": "SentimentVocabularyDrift", "exp_alerts": []}],
            }
        ],
    }
    rules = tmp_path / f"steady-{oov_per_minute}.yml"
    rules.write_text(yaml.safe_dump(steady))
    result = subprocess.run([tool("promtool"), "test", "rules", str(rules)], capture_output=True, text=True)
    return result.returncode != 0 and "SentimentVocabularyDrift" in result.stdout + result.stderr


def _wait_handled(consumer, count: int, timeout: float = 120.0) -> None:
    """Until ``count`` messages have an acknowledged output or dead letter (their drift counts came before)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        scrape = consumer.metrics()
        done = sum(
            v
            for (name, _), v in scrape.items()
            if name in ("sentiment_predictions_total", "sentiment_dead_letters_total")
        )
        if done >= count:
            return
        time.sleep(0.3)
    raise AssertionError(f"the consumer handled fewer than {count} messages in {timeout:.0f} s")


def test_garbled_reviews_raise_the_oov_share_over_the_alert_threshold_and_real_ones_do_not(
    topics: Topics, start_consumer, reviews, predictor, tmp_path: Path
) -> None:
    reference = predictor.metadata["reference"]["oov_share"]
    consumer = start_consumer(topics)
    consumer.wait_ready()
    shares: list[float] = []
    fires: list[bool] = []
    rng = random.Random(3)
    for phase, transform in (("real", lambda t: t), ("garbled", lambda t: garbled(t, rng))):
        before = _counters(consumer, predictor.version)
        items = [(key, _with_text(value, transform)) for key, value in review_items(reviews, 600, prefix=phase)]
        produce(topics.bootstrap, topics.input, items)
        _wait_handled(consumer, 600 * (len(shares) + 1))
        after = _counters(consumer, predictor.version)
        tokens, oov = after[0] - before[0], after[1] - before[1]
        shares.append(oov / tokens)
        fires.append(_alert_fires(tmp_path, reference, tokens, oov))
    assert shares[0] < 2 * reference + 0.05 < shares[1], (reference, shares)
    assert fires == [False, True], "the alert rule fires on the garbled stream only"
    exported = consumer.metrics()[
        ("sentiment_reference", (("model_version", predictor.version), ("statistic", "oov_share")))
    ]
    assert exported == pytest.approx(reference)
    assert consumer.terminate() == 0


def _with_text(value: bytes, transform) -> bytes:
    doc = json.loads(value)
    doc["text"] = transform(doc["text"])
    return json.dumps(doc).encode()
