"""The service loop (ScoringService.run) on stand-in clients: backpressure, and exactly-once abort and rewind with
messages in hand. The real broker's behaviour is tested by the subprocess tests; these arrange what it rarely shows."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest
from confluent_kafka import KafkaError

from common.labels import Label
from consumer import service as service_module
from consumer.metrics import ConsumerMetrics
from consumer.service import ScoringService, ServiceConfig
from model.predictor import Assessment
from tests.consumer.fakes import FakeConsumer, FakeProducer, clients_of

IN = "reviews"


class Positive:
    """A stand-in model: every review positive."""

    version = "stand-in"
    metadata: ClassVar[dict[str, Any]] = {}

    def judge(self, texts: Sequence[str]) -> list[tuple[Label, float] | None]:
        return [(Label.POSITIVE, 0.1)] * len(texts)

    def assess(self, texts: Sequence[str]) -> list[Assessment]:
        return [Assessment((Label.POSITIVE, 0.1), len(t.split()), 0) for t in texts]


def reviews(partitions: int, per_partition: int) -> dict[tuple[str, int], list[bytes]]:
    return {
        (IN, p): [f"review {i} of partition {p}, a fine kettle".encode() for i in range(per_partition)]
        for p in range(partitions)
    }


def service_on(
    consumer: FakeConsumer, producer: FakeProducer, kafka: dict[str, Any] | None = None, **settings: Any
) -> ScoringService:
    config = ServiceConfig(kafka or {}, IN, "out", "dlq", "g", instance_id="i1", **settings)
    return ScoringService(config, Positive, ConsumerMetrics(), clients=clients_of(consumer, producer))


def keys_of(consumer: FakeConsumer) -> Counter[bytes]:
    return Counter(m.key() for messages in consumer.log.values() for m in messages)  # type: ignore[misc]


def test_fetching_pauses_while_too_many_outputs_await_acknowledgement_and_resumes_once_half_arrived(
    monkeypatch,
) -> None:
    monkeypatch.setattr(service_module, "_IN_FLIGHT_FLOOR", 10)  # 4 batches of 4 = 16 outputs in flight at most
    consumer = FakeConsumer(reviews(2, 40))
    producer = FakeProducer(consumer, auto_ack=False)  # the broker holds every acknowledgement until the test acks
    service = service_on(consumer, producer, max_batch=4)
    seen = {"most_in_flight": 0, "paused_ticks": 0}

    def tick() -> None:
        seen["most_in_flight"] = max(seen["most_in_flight"], len(producer.pending))
        if consumer.paused:
            assert consumer.paused == set(consumer.position)  # every partition: nothing more is read
            seen["paused_ticks"] += 1
            if seen["paused_ticks"] % 3 == 0:  # the broker catches up after a while
                producer.ack_all()
        if len(producer.visible) == 80:
            service.stop()

    consumer.tick = tick
    service.run()
    assert seen["most_in_flight"] == 16 and consumer.pauses >= 2 and consumer.resumes >= 2  # 80 without pausing
    assert Counter(producer.visible_keys) == keys_of(consumer)
    assert consumer.committed == {(IN, 0): 40, (IN, 1): 40} and consumer.closed


def test_an_aborted_transaction_of_several_batches_is_read_again_and_nothing_in_hand_is_published_twice(caplog) -> None:
    consumer = FakeConsumer(reviews(2, 30), chunk=3)  # 3 at a time into batches of 5: messages wait in hand
    producer = FakeProducer(consumer)
    producer.fail_produce_at = 17  # in the fourth batch of one transaction
    service = service_on(
        consumer,
        producer,
        delivery="exactly-once",
        commit_interval_ms=60_000,
        max_batch=5,
        batch_policy="fixed",
        max_wait_ms=60_000,
    )

    def tick() -> None:
        if not consumer.unread() and producer.aborts:
            service.stop()

    consumer.tick = tick
    with caplog.at_level(logging.INFO, logger="consumer.service"):
        service.run()
    assert producer.aborts == 1 and producer.commits == 1  # the aborted transaction, then the one close() committed
    assert Counter(producer.visible_keys) == keys_of(consumer)  # every review once: none lost, none twice
    assert consumer.committed == {(IN, 0): 30, (IN, 1): 30}
    rewound = [r for r in caplog.records if r.getMessage() == "partitions rewound"]
    assert rewound and rewound[0].dropped > 0  # the batch in hand held reviews of the rewound partitions


def test_lost_partitions_drop_their_messages_in_hand_and_the_open_transaction(caplog) -> None:
    consumer = FakeConsumer(reviews(2, 10), chunk=3)
    producer = FakeProducer(consumer)
    service = service_on(
        consumer,
        producer,
        delivery="exactly-once",
        commit_interval_ms=60_000,
        max_batch=5,
        batch_policy="fixed",
        max_wait_ms=60_000,
    )
    calls = {"n": 0}

    def tick() -> None:
        calls["n"] += 1
        if calls["n"] == 5:  # a batch published, one more in hand
            consumer.lose([(IN, 0), (IN, 1)])
            consumer.log = {}  # the new owner reads the rest
            service.stop()

    consumer.tick = tick
    with caplog.at_level(logging.INFO, logger="consumer.service"):
        service.run()
    assert producer.aborts == 1 and producer.visible == [] and consumer.committed == {}
    lost = [r for r in caplog.records if r.getMessage() == "partitions lost"]
    assert lost and lost[0].dropped > 0


@pytest.mark.parametrize("delivery", ["at-least-once", "exactly-once"])
def test_a_stop_scores_the_batch_in_hand_and_commits_it(delivery: str) -> None:
    consumer = FakeConsumer(reviews(1, 7), chunk=7)
    producer = FakeProducer(consumer)
    service = service_on(consumer, producer, delivery=delivery, max_batch=10, batch_policy="fixed", max_wait_ms=60_000)
    consumer.tick = lambda: service.stop() if not consumer.unread() else None
    service.run()
    assert Counter(producer.visible_keys) == keys_of(consumer) and consumer.committed == {(IN, 0): 7}


def fence_after(consumer: FakeConsumer, outage_s: float, after_outputs: int, producer: FakeProducer) -> None:
    """Once ``after_outputs`` are out: the broker is unreachable for ``outage_s``, then the group fences the
    instance id (librdkafka's fatal _FENCED through error_cb), once."""
    fenced = {"done": False}

    def tick() -> None:
        if not fenced["done"] and len(producer.visible) >= after_outputs:
            fenced["done"] = True
            report = consumer.config["error_cb"]
            report(KafkaError(KafkaError._ALL_BROKERS_DOWN, "all brokers down"))
            time.sleep(outage_s)
            report(KafkaError(KafkaError._FENCED, "static consumer fenced", fatal=True))

    consumer.tick = tick


def test_a_session_lost_to_a_broker_outage_rejoins_with_new_clients_and_loses_nothing() -> None:
    consumer = FakeConsumer(reviews(2, 40))
    producer = FakeProducer(consumer)
    # librdkafka ends a session after session.timeout.ms less a heartbeat without the coordinator: here 50 ms
    service = service_on(
        consumer,
        producer,
        max_batch=4,
        commit_interval_ms=0,
        kafka={"session.timeout.ms": 60, "heartbeat.interval.ms": 10},
    )
    fence_after(consumer, outage_s=0.2, after_outputs=20, producer=producer)
    watch = consumer.tick

    def tick() -> None:
        watch()
        if set(producer.visible_keys) == set(keys_of(consumer)):
            service.stop()

    consumer.tick = tick
    service.run()  # returns: no fatal error escaped
    assert consumer.subscriptions == 2  # the fenced session's clients were replaced, and the new ones subscribed
    assert set(producer.visible_keys) == set(keys_of(consumer))  # every review scored, some of them twice at most
    assert consumer.committed == {(IN, 0): 40, (IN, 1): 40}


def test_a_fence_without_an_outage_is_a_second_consumer_with_the_same_id_and_stops_the_service() -> None:
    consumer = FakeConsumer(reviews(2, 40))
    producer = FakeProducer(consumer)
    service = service_on(consumer, producer, max_batch=4, kafka={"session.timeout.ms": 60_000})
    fence_after(consumer, outage_s=0.0, after_outputs=20, producer=producer)
    with pytest.raises(service_module.InstanceFenced, match="same --instance-id 'i1'"):
        service.run()
    assert consumer.subscriptions == 1
