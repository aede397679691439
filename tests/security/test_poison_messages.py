"""No single message can stop the stream: inputs as large as the broker accepts (~1 MB), in the value,
the key or a header, are scored or dead-lettered in a record librdkafka will publish, and the consumer
carries on (before the contract cut them, each one crashed the consumer on every restart)."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from common import contract
from tests.security.services import Service, read_messages

pytestmark = pytest.mark.integration

NEAR_BROKER_LIMIT = 1_040_000  # under the broker's default message.max.bytes (1,048,588), over librdkafka's 1,000,000
POISON = [  # (key, value, headers, where it must end)
    (None, b"x" * NEAR_BROKER_LIMIT, None, "dlq"),
    (None, b"[1]", [("huge", b"h" * NEAR_BROKER_LIMIT)], "dlq"),
    (b"k" * NEAR_BROKER_LIMIT, b"A sturdy kettle that boils fast.", None, "output"),
    (b"k" * NEAR_BROKER_LIMIT, b"\xff not utf-8", None, "dlq"),
    (b"last", b"The last review, after every poison message.", None, "output"),
]


def test_messages_at_the_broker_size_limit_cannot_stop_the_stream(kafka_bootstrap, make_topic, tmp_path):
    source, output, dlq = make_topic("poison-in", 1), make_topic("poison-out", 1), make_topic("poison-dlq", 1)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "message.max.bytes": 2_000_000})
    for key, value, headers, _ in POISON:
        producer.produce(source, value, key=key, headers=headers)  # type: ignore[arg-type]  # (str, bytes) pairs; list is invariant
    assert producer.flush(30) == 0

    group = f"poison-{output}"
    consumer = Service(
        "sentiment-consumer",
        [
            "--bootstrap-servers",
            kafka_bootstrap,
            "--input-topic",
            source,
            "--output-topic",
            output,
            "--dlq-topic",
            dlq,
            "--group-id",
            group,
            "--metrics-port",
            "0",
            "--max-wait-ms",
            "50",
        ],
        None,
        tmp_path / "consumer.log",
    )
    try:
        scored = read_messages(
            {"bootstrap.servers": kafka_bootstrap}, output, sum(where == "output" for *_, where in POISON)
        )
        dead = read_messages({"bootstrap.servers": kafka_bootstrap}, dlq, sum(where == "dlq" for *_, where in POISON))
        assert consumer.proc.poll() is None, consumer.text()[-3000:]
    finally:
        assert consumer.stop() == 0, consumer.text()[-3000:]

    assert [contract.decode_result(m.value() or b"").text for m in scored] == [
        v.decode() for _, v, _, where in POISON if where == "output"
    ]
    assert all(len(m.key() or b"") <= contract.MAX_KEY_BYTES for m in scored + dead)
    cut = dead[0]
    assert len(cut.value() or b"") == contract.DEAD_LETTER_MAX_VALUE_BYTES
    assert contract.header_value(cut.headers(), contract.H_ORIGINAL_BYTES) == str(NEAR_BROKER_LIMIT)
    assert contract.header_value(dead[1].headers(), contract.H_HEADERS_DROPPED) == "1"
    committed = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
    try:
        (position,) = committed.committed([TopicPartition(source, 0)], timeout=30)
    finally:
        committed.close()
    assert position.offset == len(POISON)
