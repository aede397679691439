"""The whole pipeline on the secure broker: each service connects with its own user through the
SENTIMENT_KAFKA_* pass-through only, and a consumer that may not write its output stops without
committing, so nothing is lost.

``sentiment-producer``, ``sentiment-consumer`` and ``sentiment-dashboard`` run as real subprocesses,
configured by environment variables alone (``sentiment-kafka print-env USER`` plus topic names).
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)
from prometheus_client.parser import text_string_to_metric_families

from common import contract
from common.config import DEFAULT_MODEL_DIR
from localkafka import create_topics
from localkafka.secure import apply_acls
from model.predictor import Predictor
from tests.security.services import WAIT_S, Service, read_messages

pytestmark = pytest.mark.integration


REVIEWS = [
    ("Sturdy, quiet and the battery lasts for days. Would buy again.", "positive"),
    ("Stopped working after a week and support never answered my emails.", "negative"),
    ("Exactly as described, fast shipping, my kids love it.", "positive"),
    ("Cheap plastic, the lid cracked on the first use. Waste of money.", "negative"),
] * 5
# Hostile values the producer's user may legitimately write: each must end scored or dead-lettered.
HOSTILE = [
    b"\xc3\x28 invalid utf-8",
    b'{"text":"ok","id":"\\udfff"}',
    b'{"text":"ok","ts":1' + b"0" * 400 + b"}",
    b"[" * 200_000 + b"]" * 200_000,
    b"\x00" * 64,
    b'{"text":"good\\u0000 value"}',
    b'{"text":{"$gt":""}}',
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _consumer(pipeline, tmp_path: Path, name: str, **settings: str) -> Service:
    env = pipeline.service_env("consumer", metrics_port=settings.pop("metrics_port", "0"), max_wait_ms="50", **settings)
    return Service("sentiment-consumer", [], env, tmp_path / f"{name}.log")


def _send_reviews(pipeline, tmp_path: Path) -> None:
    source = tmp_path / "reviews.jsonl"
    source.write_text("".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in REVIEWS))
    sent = Service(
        "sentiment-producer",
        [str(source), "--with-labels"],
        pipeline.service_env("producer"),
        tmp_path / "producer.log",
    )
    assert sent.wait() == 0, sent.text()


def _send_raw(pipeline, values: list[bytes]) -> None:
    failures: list[Any] = []
    producer = Producer(pipeline.config("producer", **{"message.max.bytes": 2_000_000}))
    for value in values:
        producer.produce(pipeline.input_topic, value, on_delivery=lambda err, _m: failures.extend([err] if err else []))
    assert producer.flush(30) == 0 and not failures, failures


def _dashboard_reads(port: int, dashboard: Service, expected: int) -> float:
    """``sentiment-dashboard``'s count of results read (its /metrics), once it reaches ``expected``."""
    deadline, read = time.monotonic() + WAIT_S, -1.0
    while read < expected and time.monotonic() < deadline and dashboard.proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                families = text_string_to_metric_families(response.read().decode())
                read = next(
                    s.value
                    for f in families
                    for s in f.samples
                    if s.name == "sentiment_dashboard_records_read_total" and s.labels.get("outcome") == "ok"
                )
        except OSError:  # not listening yet
            pass
        time.sleep(0.3)
    return read


def _read_all(pipeline, topic: str, expected: int) -> list[Any]:
    """Every message of ``topic``, read by the admin user (dead letters are nobody else's to read)."""
    return read_messages(pipeline.config("admin"), topic, expected)


def _committed(pipeline) -> dict[int, int]:
    """The consumer group's committed input offsets, partition -> offset (negative: none), asked as the admin user."""
    return _input_offsets(
        pipeline, lambda consumer, tps: {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=30)}
    )


def _end_offsets(pipeline) -> dict[int, int]:
    return _input_offsets(
        pipeline, lambda consumer, tps: {tp.partition: consumer.get_watermark_offsets(tp, timeout=30)[1] for tp in tps}
    )


def _input_offsets(pipeline, read) -> dict[int, int]:
    consumer = Consumer(pipeline.config("admin", **{"group.id": pipeline.group_id}))  # never joins: only reads
    deadline = time.monotonic() + WAIT_S
    try:
        partitions = consumer.list_topics(pipeline.input_topic, timeout=30).topics[pipeline.input_topic].partitions
        while True:
            try:
                return read(consumer, [TopicPartition(pipeline.input_topic, p) for p in sorted(partitions)])
            except KafkaException as exc:  # the group coordinator may still be loading on a fresh broker
                if not exc.args[0].retriable() or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        consumer.close()


def test_the_whole_pipeline_runs_on_the_secure_broker(new_pipeline, tmp_path):
    pipeline = new_pipeline()
    metrics_port, dashboard_port = _free_port(), _free_port()
    consumer = _consumer(pipeline, tmp_path, "consumer", delivery="exactly-once", metrics_port=str(metrics_port))
    dashboard = Service(
        "sentiment-dashboard",
        ["--start", "beginning"],
        pipeline.service_env("dashboard", dashboard_port=str(dashboard_port)),
        tmp_path / "dashboard.log",
    )
    try:
        _send_reviews(pipeline, tmp_path)
        _send_raw(pipeline, HOSTILE)
        decoded = [contract.decode_review(None, v, contract.Source("t", 0, 0)) for v in HOSTILE]
        reviews = [d for d in decoded if isinstance(d, contract.Review)]
        # Of the values that decode as reviews, those without a word the model knows are dead letters (no_words).
        judged = [v is not None for v in Predictor.load(DEFAULT_MODEL_DIR).judge([r.text for r in reviews])]
        scored = len(REVIEWS) + sum(judged)
        rejected = [d.code for d in decoded if isinstance(d, contract.Rejection)] + [contract.NO_WORDS] * judged.count(
            False
        )

        assert _dashboard_reads(dashboard_port, dashboard, scored) == scored, dashboard.text()[-3000:]
        results = [contract.decode_result(m.value()) for m in _read_all(pipeline, pipeline.output_topic, scored)]
        assert sum(r.true_label is not None for r in results) == len(REVIEWS)  # the true labels travelled end to end
        dead = _read_all(pipeline, pipeline.dlq_topic, len(rejected))
        assert sorted(contract.header_value(m.headers(), contract.H_ERROR_CODE) or "" for m in dead) == sorted(rejected)

        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
            metrics_text = response.read().decode()
        assert "sentiment_messages_consumed_total" in metrics_text
    finally:
        assert dashboard.stop() == 0, dashboard.text()[-3000:]
        assert consumer.stop() == 0, consumer.text()[-3000:]
    assert _committed(pipeline) == _end_offsets(pipeline)  # every input, hostile ones included, is accounted for

    secrets = [pipeline.env(user)["SENTIMENT_KAFKA_SASL_PASSWORD"] for user in ("consumer", "producer", "dashboard")]
    for where, text in (
        ("consumer log", consumer.text()),
        ("producer log", (tmp_path / "producer.log").read_text()),
        ("dashboard log", dashboard.text()),
        ("metrics", metrics_text),
    ):
        assert not any(secret in text for secret in secrets), f"a password is in the {where}"
    assert '"sasl.password": "*****"' in consumer.text()  # the configuration is logged, masked


def _consumer_acl(topic: str, operation: AclOperation) -> AclBinding:
    return AclBinding(
        ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:consumer", "*", operation, AclPermissionType.ALLOW
    )


@pytest.mark.parametrize("delivery", ["at-least-once", "exactly-once"])
def test_a_consumer_that_may_not_write_its_output_commits_nothing_and_loses_nothing(new_pipeline, tmp_path, delivery):
    pipeline = new_pipeline()
    admin = pipeline.broker.client_config()
    # The operator's mistake: the consumer may see its output topic but not write to it.
    write = _consumer_acl(pipeline.output_topic, AclOperation.WRITE)
    apply_acls(admin, [_consumer_acl(pipeline.output_topic, AclOperation.DESCRIBE)])
    _delete_acls(admin, write)
    _send_reviews(pipeline, tmp_path)

    denied = _consumer(pipeline, tmp_path, "denied", delivery=delivery)
    assert denied.wait() == 1, denied.text()[-3000:]  # README: a fatal Kafka error at run time is exit 1
    assert "Topic authorization failed" in denied.text() and pipeline.output_topic in denied.text()
    assert all(offset < 0 for offset in _committed(pipeline).values()), "offsets were committed for unwritten outputs"

    apply_acls(admin, [write])  # the operator fixes the ACL; the same group starts again
    fixed = _consumer(pipeline, tmp_path, "fixed", delivery=delivery)
    try:
        results = _read_all(pipeline, pipeline.output_topic, len(REVIEWS))
    finally:
        assert fixed.stop() == 0, fixed.text()[-3000:]
    assert len({contract.decode_result(m.value()).id for m in results}) == len(REVIEWS)
    assert _committed(pipeline) == _end_offsets(pipeline)


def _delete_acls(admin_config: dict[str, Any], binding: AclBinding) -> None:
    admin = AdminClient(admin_config)
    pattern = AclBindingFilter(
        binding.restype,
        binding.name,
        binding.resource_pattern_type,
        binding.principal,
        binding.host,
        binding.operation,
        binding.permission_type,
    )
    for future in admin.delete_acls([pattern], request_timeout=30).values():
        assert future.result(30), "no ACL was deleted"


@pytest.mark.parametrize(
    "command, user, args",
    [("sentiment-consumer", "consumer", []), ("sentiment-producer", "producer", ["--text", "must not arrive"])],
)
def test_a_service_with_a_wrong_password_stops_and_touches_nothing(new_pipeline, tmp_path, command, user, args):
    pipeline = new_pipeline()
    env = pipeline.service_env(user, metrics_port="0")
    env["SENTIMENT_KAFKA_SASL_PASSWORD"] = "not-the-password"
    service = Service(command, args, env, tmp_path / f"{command}.log")
    assert service.wait() == 2, service.text()[-3000:]  # README: a login the broker refuses is exit 2
    last = service.text().splitlines()[-1]
    assert last.startswith("error: ")  # one line, not a traceback
    assert "not-the-password" not in service.text()
    assert _end_offsets(pipeline) == {0: 0, 1: 0} and all(offset < 0 for offset in _committed(pipeline).values())
    assert "authentication failed" in last, last  # the real reason, not "broker unreachable"


def test_a_consumer_whose_user_may_not_see_its_output_refuses_to_start(new_pipeline, tmp_path):
    pipeline = new_pipeline()
    hidden = f"sec-hidden-{uuid.uuid4().hex[:8]}"  # exists, but the consumer user has no ACL on it at all
    create_topics(pipeline.broker.client_config(), [hidden], 1)
    service = _consumer(pipeline, tmp_path, "hidden", output_topic=hidden)
    assert service.wait() == 2, service.text()[-3000:]
    assert hidden in service.text().splitlines()[-1]
    assert all(offset < 0 for offset in _committed(pipeline).values())
