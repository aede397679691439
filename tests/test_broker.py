"""The local broker is a real Kafka: groups, commits and resumption work as in production."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from confluent_kafka import Consumer, Producer

pytestmark = pytest.mark.integration


def _consume(bootstrap: str, topic: str, group: str, count: int) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    try:
        while len(values) < count:
            msg = consumer.poll(10.0)
            assert msg is not None, f"timed out after {len(values)} of {count} messages"
            assert msg.error() is None, msg.error()
            values.append(msg.value() or b"")
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return values


def test_group_resumes_from_committed_offset(kafka_bootstrap, make_topic):
    topic = make_topic("broker", partitions=1)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for i in range(10):
        producer.produce(topic, value=f"m{i}".encode())
    assert producer.flush(10) == 0

    first = _consume(kafka_bootstrap, topic, "g-resume", 4)
    assert first == [f"m{i}".encode() for i in range(4)]
    # A new consumer in the same group starts where the committed offset says, not at the beginning.
    rest = _consume(kafka_bootstrap, topic, "g-resume", 6)
    assert rest == [f"m{i}".encode() for i in range(4, 10)]


def test_status_command_sees_the_running_broker(kafka_bootstrap):
    port = kafka_bootstrap.rsplit(":", 1)[1]
    proc = subprocess.run(
        [sys.executable, "-m", "localkafka", "--port", port, "status"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "ready" in proc.stdout


def test_start_twice_is_harmless(kafka_bootstrap):
    port = kafka_bootstrap.rsplit(":", 1)[1]
    proc = subprocess.run([sys.executable, "-m", "localkafka", "--port", port, "start"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "already running" in proc.stdout


def test_create_topics_is_idempotent(kafka_bootstrap):
    from localkafka import create_topics

    name = "idem-topics-test"
    first = create_topics({"bootstrap.servers": kafka_bootstrap}, [name], 2)
    second = create_topics({"bootstrap.servers": kafka_bootstrap}, [name], 2)
    assert first[name] in ("created", "exists")
    assert second[name] == "exists"


def test_broker_check_names_a_closed_port():
    from common.broker_check import BrokerUnavailable, cluster_metadata

    with pytest.raises(BrokerUnavailable, match=r"cannot reach the Kafka broker at 127\.0\.0\.1:1 within 2 s"):
        cluster_metadata({"bootstrap.servers": "127.0.0.1:1"}, timeout=2)


def test_broker_check_returns_metadata_of_a_live_broker(kafka_bootstrap, make_topic):
    from common.broker_check import cluster_metadata

    topic = make_topic("check", partitions=3)
    metadata = cluster_metadata({"bootstrap.servers": kafka_bootstrap}, timeout=10)
    assert len(metadata.topics[topic].partitions) == 3


def test_storage_formats_with_a_cluster_id_that_starts_with_a_dash(monkeypatch):
    """One base64 cluster id in 64 starts with "-"; the format command must not read it as an option."""
    import shutil
    import uuid

    from localkafka import LocalKafka
    from localkafka import broker as broker_module

    monkeypatch.setattr(broker_module.uuid, "uuid4", lambda: uuid.UUID(bytes=b"\xf8" * 16))
    broker = LocalKafka(port=39_092, controller_port=39_093)
    try:
        (broker.instance / "logs").mkdir(parents=True, exist_ok=True)
        broker._format(broker.ensure_jars(), broker._write_config())
        meta = (broker.instance / "data" / "meta.properties").read_text()
        assert "cluster.id=-" in meta
    finally:
        shutil.rmtree(broker.instance, ignore_errors=True)


def test_scratch_topics_exist_inside_the_block_only(kafka_bootstrap):
    import uuid

    from confluent_kafka.admin import AdminClient

    from localkafka import delete_topics, scratch_topics

    config = {"bootstrap.servers": kafka_bootstrap}
    names = [f"scratch-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    admin = AdminClient(config)
    with scratch_topics(config, names, 2) as made:
        assert made == names
        topics = admin.list_topics(timeout=10).topics
        assert all(len(topics[name].partitions) == 2 for name in names)
    deadline = time.monotonic() + 30
    while set(names) & set(admin.list_topics(timeout=10).topics) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not set(names) & set(admin.list_topics(timeout=10).topics)
    delete_topics(config, names)  # already gone: no error


def test_topic_config_reaches_the_broker(kafka_bootstrap):
    import uuid

    from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer, Producer

    from localkafka import scratch_topics

    config = {"bootstrap.servers": kafka_bootstrap}
    name = f"scratch-{uuid.uuid4().hex[:8]}"
    with scratch_topics(config, [name], 1, topic_config={"message.timestamp.type": "LogAppendTime"}):
        producer = Producer(config)
        producer.produce(name, value=b"x", timestamp=1_000)  # a producer's time from 1970: the broker must replace it
        assert producer.flush(30) == 0
        consumer = Consumer({**config, "group.id": name, "auto.offset.reset": "earliest"})
        consumer.subscribe([name])
        deadline = time.monotonic() + 30
        message = None
        while message is None and time.monotonic() < deadline:
            message = consumer.poll(0.5)
        consumer.close()
        assert message is not None and message.error() is None
        kind, millis = message.timestamp()
        assert kind == TIMESTAMP_LOG_APPEND_TIME and abs(millis / 1000 - time.time()) < 60


def test_create_topics_goes_to_the_broker_of_port_even_when_the_environment_names_another(kafka_bootstrap):
    import os
    import socket
    import uuid

    from confluent_kafka.admin import AdminClient

    port = kafka_bootstrap.rsplit(":", 1)[1]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        elsewhere = f"127.0.0.1:{sock.getsockname()[1]}"  # nothing listens there once the block ends
    names = [f"port-{uuid.uuid4().hex[:8]}-{kind}" for kind in ("in", "out", "dlq")]
    env = {**os.environ, "SENTIMENT_BOOTSTRAP_SERVERS": elsewhere}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "localkafka",
            "--port",
            port,
            "create-topics",
            "--timeout",
            "10",
            "--input-topic",
            names[0],
            "--output-topic",
            names[1],
            "--dlq-topic",
            names[2],
            "--partitions",
            "1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    topics = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics
    assert all(len(topics[name].partitions) == 1 for name in names), proc.stdout


def test_create_topics_refuses_a_port_and_bootstrap_servers_that_disagree():
    port = "45678"
    proc = subprocess.run(
        [sys.executable, "-m", "localkafka", "--port", port, "create-topics", "--bootstrap-servers", "127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: --port {port} and --bootstrap-servers 127.0.0.1:1 name different brokers; give one of them"
    )
