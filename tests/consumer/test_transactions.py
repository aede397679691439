"""Exactly-once on the real broker: a transaction spanning several batches is aborted mid-stream, and a read_committed
reader still sees every review once. The service runs in-process so that a fault can be injected into its producer."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from consumer.metrics import ConsumerMetrics
from consumer.service import ScoringService, ServiceConfig
from localkafka.harness import Topics, item_ids, output_ids, produce, read_topic, review_items
from tests.consumer.test_loop import Positive

pytestmark = pytest.mark.integration

MAX_BATCH = 32


class RefusesOneCommit:
    """A real transactional producer whose commit is refused once, the first time its transaction holds more than
    ``outputs``; the offsets were sent, so the broker must discard both them and the outputs on the abort."""

    def __init__(self, producer: Producer, outputs: int) -> None:
        self._producer, self._outputs = producer, outputs
        self.in_transaction = 0
        self.refused_holding: int | None = None  # outputs the refused transaction held

    def __getattr__(self, name: str) -> Any:
        return getattr(self._producer, name)

    def begin_transaction(self) -> None:
        self.in_transaction = 0
        self._producer.begin_transaction()

    def produce(self, *args: Any, **kwargs: Any) -> None:
        self._producer.produce(*args, **kwargs)
        self.in_transaction += 1

    def commit_transaction(self, timeout: float) -> None:
        if self.refused_holding is None and self.in_transaction > self._outputs:
            self.refused_holding = self.in_transaction
            raise KafkaException(KafkaError(KafkaError._STATE, "injected before the commit", txn_requires_abort=True))
        self._producer.commit_transaction(timeout)


def test_an_aborted_transaction_of_several_batches_loses_and_duplicates_nothing(topics: Topics, reviews) -> None:
    items = review_items(reviews, 3000, prefix="t", words=12)
    produce(topics.bootstrap, topics.input, items)  # a backlog: every transaction fills with full batches
    faulty: list[RefusesOneCommit] = []

    def clients(consumer_config: dict[str, Any], producer_config: dict[str, Any]) -> tuple[Consumer, Any]:
        faulty.append(RefusesOneCommit(Producer(producer_config), outputs=3 * MAX_BATCH))
        return Consumer(consumer_config), faulty[0]

    config = ServiceConfig(
        {"bootstrap.servers": topics.bootstrap, "session.timeout.ms": 6000},
        topics.input,
        topics.output,
        topics.dlq,
        topics.group,
        max_batch=MAX_BATCH,
        delivery="exactly-once",
        commit_interval_ms=500,
        instance_id=f"txn-{uuid.uuid4().hex[:8]}",
    )
    metrics = ConsumerMetrics()
    service = ScoringService(config, Positive, metrics, clients=clients)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            service.run()
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failures.append(exc)

    thread = threading.Thread(target=run, name="scoring-service")
    thread.start()
    try:
        outputs = read_topic(topics.bootstrap, topics.output, ids=item_ids(items), timeout=120)
    finally:
        service.stop()
        thread.join(60)
    assert not failures and not thread.is_alive()
    assert faulty[0].refused_holding is not None and faulty[0].refused_holding > 3 * MAX_BATCH  # several batches
    assert metrics.commit_failures._value.get() == 1
    ids = output_ids(outputs)
    assert set(ids) == item_ids(items)  # nothing lost
    assert max(ids.values()) == 1 and len(outputs) == len(items)  # nothing duplicated
