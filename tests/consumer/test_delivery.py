"""Each delivery mode against stand-in clients (tests/consumer/fakes.py), in orders a real broker rarely shows.

At-least-once: a batch's input offsets are committed only once every output of it is acknowledged.
Exactly-once: one transaction spans the batches of a commit interval; an abort discards everything it produced and
rewinds each partition it held to where it began.
"""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from common.contract import Source
from common.labels import Label
from consumer.delivery import MODES, AtLeastOnce, DeliveryFailed, ExactlyOnce
from consumer.metrics import ConsumerMetrics
from consumer.scoring import OutRecord
from consumer.service import ServiceConfig
from tests.consumer.fakes import FakeConsumer, FakeMessage, FakeProducer, abortable, clients_of

IN = "reviews"


def config(delivery: str, commit_interval_ms: int | None = None) -> ServiceConfig:
    return ServiceConfig(
        {}, IN, "out", "dlq", "g", delivery=delivery, commit_interval_ms=commit_interval_ms, instance_id="i1"
    )


def record(partition: int, offset: int, label: Label | None = Label.POSITIVE) -> OutRecord:
    return OutRecord(
        Source(IN, partition, offset),
        "out",
        None,
        f"out-{partition}-{offset}".encode(),
        None,
        label=label,
        reason=None if label else "not_json",
        event_time=1.0,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def count(metric) -> float:
    return metric._value.get()


# -- one place decides the mode ---------------------------------------------------------------------


def test_each_mode_owns_its_client_settings_and_the_user_can_override_the_assignment_strategy() -> None:
    alo, eos = config("at-least-once"), config("exactly-once")
    assert MODES["at-least-once"] is AtLeastOnce and MODES["exactly-once"] is ExactlyOnce
    assert alo.consumer_config()["partition.assignment.strategy"] == "cooperative-sticky"
    assert "isolation.level" not in alo.consumer_config() and "transactional.id" not in alo.producer_config()
    assert eos.consumer_config()["partition.assignment.strategy"] == "roundrobin"
    assert eos.consumer_config()["isolation.level"] == "read_committed"
    assert eos.producer_config()["transactional.id"] == "sentiment-consumer.g.i1"
    overridden = ServiceConfig(
        {"partition.assignment.strategy": "range"}, IN, "out", "dlq", "g", delivery="exactly-once"
    )
    assert overridden.consumer_config()["partition.assignment.strategy"] == "range"
    assert (alo.commit_interval, eos.commit_interval, config("exactly-once", 250).commit_interval) == (1.0, 0.1, 0.25)


# -- at-least-once ----------------------------------------------------------------------------------


@pytest.fixture
def alo() -> tuple[AtLeastOnce, FakeProducer, FakeConsumer, ConsumerMetrics]:
    consumer = FakeConsumer({(IN, 0): [], (IN, 1): [], (IN, 2): []})
    producer, metrics = FakeProducer(consumer, auto_ack=False), ConsumerMetrics()
    return AtLeastOnce(config("at-least-once", 0), metrics, clients_of(consumer, producer)), producer, consumer, metrics


def ack(producer: FakeProducer, index: int, err: KafkaError | None = None) -> None:
    value, _, callback = producer.pending[index]
    callback(err, FakeMessage("out", 0, 0, value))


def test_a_batch_is_committed_once_all_its_outputs_are_acknowledged_in_any_order(alo) -> None:
    delivery, producer, consumer, metrics = alo
    delivery.publish([record(0, 10), record(1, 3), record(0, 11, label=None)])
    delivery.publish([record(0, 12)])
    assert delivery.backlog() == 4

    ack(producer, 3)  # the later batch first: partition 0 must wait for offsets 10-11
    ack(producer, 0)
    ack(producer, 2)
    delivery.service()
    assert consumer.committed == {} and delivery.backlog() == 3  # counted per batch: the first is not complete

    ack(producer, 1)
    delivery.service()
    assert consumer.committed == {(IN, 0): 13, (IN, 1): 4} and delivery.backlog() == 0
    assert count(metrics.commits) == 1  # librdkafka's on_commit callback, which the mode set itself
    assert count(metrics.predictions.labels(label="positive")) == 3
    assert count(metrics.dead_letters.labels(reason="not_json")) == 1


def test_dropped_optional_fields_are_counted_by_field_once_delivered(alo) -> None:
    delivery, producer, _, metrics = alo
    delivery.publish(
        [record(0, 1)._replace(dropped=("label", "ts")), record(0, 2)._replace(dropped=("ts",)), record(0, 3)]
    )
    assert count(metrics.dropped_fields.labels(field="ts")) == 0  # nothing counted before the acknowledgement
    for index in range(3):
        ack(producer, index)
    delivery.service()
    assert count(metrics.dropped_fields.labels(field="ts")) == 2
    assert count(metrics.dropped_fields.labels(field="label")) == 1


def test_a_failed_output_stops_the_service_naming_its_input_and_commits_nothing(alo) -> None:
    delivery, producer, consumer, _ = alo
    delivery.publish([record(2, 7), record(2, 8)])
    ack(producer, 0)
    ack(producer, 1, KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
    with pytest.raises(DeliveryFailed, match="reviews:2:8"):
        delivery.service()
    assert consumer.committed == {}


def test_commits_wait_for_the_commit_interval_but_a_revoke_commits_at_once() -> None:
    consumer, clock = FakeConsumer({(IN, 0): [], (IN, 1): []}), Clock()
    producer = FakeProducer(consumer)
    delivery = AtLeastOnce(
        config("at-least-once", 1000), ConsumerMetrics(), clients_of(consumer, producer), clock=clock
    )
    delivery.publish([record(0, 0)])
    delivery.service()
    assert consumer.committed == {(IN, 0): 1}  # the first commit goes at once
    delivery.publish([record(0, 1), record(1, 0)])
    clock.now += 0.5
    delivery.service()
    assert consumer.committed == {(IN, 0): 1}  # acknowledged, but within the interval
    delivery.on_revoke([TopicPartition(IN, 1)])
    assert consumer.committed == {(IN, 0): 1, (IN, 1): 1}  # the revoked partition only
    clock.now += 0.5
    delivery.service()
    assert consumer.committed == {(IN, 0): 2, (IN, 1): 1}


# -- exactly-once -----------------------------------------------------------------------------------


@pytest.fixture
def eos() -> tuple[ExactlyOnce, FakeProducer, FakeConsumer, ConsumerMetrics, Clock]:
    consumer, clock, metrics = FakeConsumer({(IN, 0): [], (IN, 1): [], (IN, 2): []}), Clock(), ConsumerMetrics()
    consumer.position = {(IN, 0): 0, (IN, 1): 0, (IN, 2): 0}  # assigned
    producer = FakeProducer(consumer)
    delivery = ExactlyOnce(config("exactly-once"), metrics, clients_of(consumer, producer), clock=clock)
    return delivery, producer, consumer, metrics, clock


def test_one_transaction_spans_the_batches_of_one_commit_interval(eos) -> None:
    delivery, producer, consumer, metrics, clock = eos
    for batch in ([record(0, 0), record(1, 0)], [record(0, 1)], [record(1, 1), record(0, 2, label=None)]):
        delivery.publish(batch)
        assert delivery.service() == set()
        clock.now += 0.03
    assert (producer.begins, producer.commits, producer.visible) == (1, 0, [])  # 90 ms: still open
    assert delivery.backlog() == 5

    clock.now += 0.02
    assert delivery.service() == set()
    assert (producer.begins, producer.commits) == (1, 1)
    assert sorted(producer.visible) == sorted(
        r.value for r in [record(0, 0), record(1, 0), record(0, 1), record(1, 1), record(0, 2)]
    )
    assert consumer.committed == {(IN, 0): 3, (IN, 1): 2}
    assert delivery.backlog() == 0
    assert count(metrics.commits) == 1
    assert count(metrics.predictions.labels(label="positive")) == 4  # counted when committed, not before
    assert count(metrics.dead_letters.labels(reason="not_json")) == 1

    delivery.publish([record(2, 0)])  # the next interval opens a new transaction
    assert producer.begins == 2


def test_an_aborted_transaction_of_several_batches_rewinds_each_partition_to_where_it_began(eos) -> None:
    delivery, producer, consumer, metrics, clock = eos
    delivery.publish([record(0, 0), record(1, 0)])
    clock.now += 0.1
    delivery.service()  # the first transaction commits: partition 0 at 1, partition 1 at 1
    for batch in ([record(0, 1), record(0, 2)], [record(1, 1)], [record(0, 3), record(1, 2)]):
        delivery.publish(batch)
        delivery.service()
    producer.fail_commits.append(abortable("coordinator moved"))
    clock.now += 0.1

    assert delivery.service() == {(IN, 0), (IN, 1)}
    assert producer.aborts == 1 and producer.transaction is None
    assert sorted(consumer.seeks) == [((IN, 0), 1), ((IN, 1), 1)]  # the last committed offsets
    assert sorted(producer.visible) == [b"out-0-0", b"out-1-0"]  # nothing of the aborted one
    assert consumer.committed == {(IN, 0): 1, (IN, 1): 1}
    assert count(metrics.commit_failures) == 1 and count(metrics.predictions.labels(label="positive")) == 2
    assert delivery.backlog() == 0


def test_a_refused_produce_aborts_at_once_without_waiting_for_the_interval(eos) -> None:
    delivery, producer, consumer, _, _ = eos
    producer.fail_produce_at = 3
    delivery.publish([record(2, 5), record(2, 6)])
    delivery.publish([record(2, 7), record(2, 8)])  # the first of these is refused
    assert delivery.service() == {(IN, 2)}
    assert consumer.seeks == [((IN, 2), 5)] and producer.aborts == 1 and producer.visible == []


def test_a_revoke_commits_the_open_transaction_before_its_partitions_move(eos) -> None:
    delivery, producer, consumer, _, _ = eos
    delivery.publish([record(0, 4)])
    delivery.publish([record(1, 9)])
    delivery.on_revoke(consumer.assignment())
    assert producer.commits == 1 and consumer.committed == {(IN, 0): 5, (IN, 1): 10}


def test_lost_partitions_abort_the_transaction_and_only_those_still_owned_are_rewound(eos) -> None:
    delivery, producer, consumer, _, _ = eos
    delivery.publish([record(0, 4), record(1, 9)])
    rewound = delivery.on_lost([consumer.assignment()[0]])
    assert rewound == {(IN, 1)} and consumer.seeks == [((IN, 1), 9)]
    assert producer.aborts == 1 and producer.visible == [] and consumer.committed == {}
    assert delivery.on_lost(consumer.assignment()) == set()  # nothing open: nothing to abort


@pytest.mark.parametrize(
    "error",
    [
        KafkaError(KafkaError._FENCED, "fenced by a newer instance", fatal=True),
        KafkaError(KafkaError.INVALID_TXN_STATE, "not abortable"),
    ],
)
def test_a_fatal_or_unabortable_transaction_error_stops_the_service(eos, error) -> None:
    delivery, producer, _, _, clock = eos
    delivery.publish([record(0, 0)])
    producer.fail_commits.append(KafkaException(error))
    clock.now += 0.1
    with pytest.raises(DeliveryFailed, match="transaction failed"):
        delivery.service()
    assert producer.aborts == 0


def test_close_commits_the_open_transaction(eos) -> None:
    delivery, producer, consumer, _, _ = eos
    delivery.publish([record(2, 0), record(2, 1)])
    delivery.close(timeout=1)
    assert producer.commits == 1 and consumer.committed == {(IN, 2): 2} and len(producer.visible) == 2
