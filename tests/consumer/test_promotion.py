"""``sentiment-model promote`` and ``rollback`` while reviews flow through a real consumer that
serves ``MODELS_DIR/current``: nothing lost or repeated, one switch point per partition and per change, and every
output scored by the weights of the model it names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from itertools import groupby
from pathlib import Path

import numpy as np
import pytest

from common import contract
from common.config import DEFAULT_MODEL_DIR
from localkafka.harness import ConsumerProcess, Topics, item_ids, output_ids, produce, read_topic, review_items
from tests.candidate import perturbed_copy

pytestmark = pytest.mark.integration

PHASE = 1500  # reviews per model: served, promoted candidate, served again after the rollback


@pytest.fixture(scope="module")
def candidate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default network with other output weights: every probability moves."""
    return perturbed_copy(DEFAULT_MODEL_DIR, tmp_path_factory.mktemp("candidate") / "candidate")


def sentiment_model(models: Path, *args: str) -> None:
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "sentiment-model"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SENTIMENT_MODELS_DIR": str(models)},
    )
    assert proc.returncode == 0, proc.stderr


def paced(
    bootstrap: str, topic: str, items: Sequence[tuple[bytes, bytes]], per_second: float = 500
) -> threading.Thread:
    """Produce ``items`` in small chunks over a few seconds from a thread, so that changes land mid-stream."""

    def run() -> None:
        for start in range(0, len(items), 50):
            produce(bootstrap, topic, items[start : start + 50])
            time.sleep(50 / per_second)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wait_switched(process: ConsumerProcess, switches: int, to: str, timeout: float = 60) -> None:
    """Until the consumer's log holds ``switches`` "model switched" lines, the last one to version ``to``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [
            json.loads(line)
            for line in process.log_path.read_text(errors="replace").splitlines()
            if '"msg": "model switched"' in line
        ]
        if len(lines) >= switches:
            assert lines[-1]["to"] == to, lines
            return
        time.sleep(0.1)
    raise AssertionError(f"no switch to {to}:\n{process.log_tail()}")


def test_promote_and_rollback_under_load_switch_once_per_partition_and_score_with_the_named_weights(
    topics: Topics, start_consumer, reviews, predictor, candidate: Path, tmp_path: Path, record_property
) -> None:
    from model.predictor import Predictor

    models = tmp_path / "models"
    models.mkdir()
    sentiment_model(models, "promote", str(DEFAULT_MODEL_DIR))
    challenger = Predictor.load(candidate, backend=predictor.backend)  # the engine the consumer serves with
    items = review_items(reviews, 3 * PHASE, prefix="p", words=30)
    process = start_consumer(
        topics, "--model-dir", str(models / "current"), "--model-poll-seconds", "0.3", "--max-batch", "32"
    )
    process.wait_ready()

    flowing = paced(topics.bootstrap, topics.input, items[:PHASE])
    process.wait_metric("sentiment_messages_consumed_total", PHASE // 4)
    sentiment_model(models, "promote", str(candidate))  # while the first third still arrives and is scored
    wait_switched(process, 1, challenger.version)
    flowing.join()
    # The next third only once the switch is logged: then the candidate surely scores reviews (a slow machine
    # could otherwise have scored everything before the switch).
    flowing = paced(topics.bootstrap, topics.input, items[PHASE : 2 * PHASE])
    process.wait_metric("sentiment_messages_consumed_total", PHASE + PHASE // 4)
    sentiment_model(models, "rollback")
    wait_switched(process, 2, predictor.version)
    flowing.join()
    produce(topics.bootstrap, topics.input, items[2 * PHASE :])

    outputs = read_topic(topics.bootstrap, topics.output, ids=item_ids(items))
    ids = output_ids(outputs)
    assert set(ids) == item_ids(items) and max(ids.values()) == 1  # none lost, none repeated
    results = [contract.decode_result(m.value() or b"") for m in outputs]
    runs_per_partition: dict[int | None, list[str]] = defaultdict(list)
    for message, result in sorted(
        zip(outputs, results, strict=True), key=lambda mr: (mr[0].partition(), mr[0].offset())
    ):
        runs_per_partition[message.partition()].append(result.model_version)
    for partition, versions in runs_per_partition.items():  # served... candidate... served: one switch per change
        assert [v for v, _ in groupby(versions)] == [predictor.version, challenger.version, predictor.version], (
            partition
        )

    first_third = {key.decode() for key, _ in items[:PHASE]}
    record_property(
        "first_third_scored_by_candidate",  # > 0: the promotion landed while those reviews flowed
        sum(r.id in first_third and r.model_version == challenger.version for r in results),
    )
    texts = {key.decode(): json.loads(value)["text"] for key, value in items}
    order = [r.id for r in results]
    expected = {
        predictor.version: predictor.predict_proba([texts[i] for i in order]),
        challenger.version: challenger.predict_proba([texts[i] for i in order]),
    }
    scored = np.array([r.p_negative for r in results])
    named = np.array([expected[r.model_version][k] for k, r in enumerate(results)])
    other = np.array(
        [
            expected[predictor.version if r.model_version == challenger.version else challenger.version][k]
            for k, r in enumerate(results)
        ]
    )
    assert np.abs(scored - named).max() < 1e-5  # each output carries the probability of the model it names
    assert (
        np.mean(np.abs(scored - other) > 1e-3) > 0.9
    )  # and the other model's would differ: the weights really changed
    assert process.metrics()[("sentiment_model_info", (("version", predictor.version),))] == 1
    assert process.terminate() == 0
