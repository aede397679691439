"""The secure broker lets each service's user do its job and nothing else, and says why when it refuses.

Every client here is configured the way the services are: from the
SENTIMENT_* lines of ``sentiment-kafka print-env USER`` through the
configuration surface's librdkafka pass-through.
"""

from __future__ import annotations

import json
import logging
import stat
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from common import config, logs
from consumer.service import ServiceConfig
from localkafka.secure import generate_tls

pytestmark = pytest.mark.integration

# A loop bound, not a timing claim: librdkafka reports these errors within a second or two; a client
# that hangs instead never reports one and the assertion on the error fails.
ERROR_BOUND_S = 30.0


def _error(client: Producer | Consumer, errors: list[KafkaError], *codes: int) -> KafkaError:
    """The first reported error with one of ``codes`` (librdkafka may also report e.g. all brokers down)."""
    deadline = time.monotonic() + ERROR_BOUND_S
    while time.monotonic() < deadline:
        found = [err for err in errors if err.code() in codes]
        if found:
            return found[0]
        client.poll(0.2)
    names = [KafkaError(code).name() for code in codes]
    raise AssertionError(f"no {names} error within {ERROR_BOUND_S:.0f} s (got {errors[:3]}): the client hangs instead")


def _produce(
    cfg: dict[str, Any], topic: str, values: list[bytes], transactional: bool = False
) -> list[KafkaError | None]:
    """Produce ``values``; each one's delivery error (None when delivered)."""
    outcomes: list[KafkaError | None] = []
    producer = Producer({**cfg, "message.timeout.ms": 20_000})
    if transactional:
        producer.init_transactions(20)
        producer.begin_transaction()
    for value in values:
        producer.produce(topic, value, on_delivery=lambda err, _msg: outcomes.append(err))
    if transactional:
        producer.commit_transaction(30)
    producer.flush(30)
    return outcomes


def _consume(cfg: dict[str, Any], topic: str, group: str, count: int) -> list[bytes]:
    """Read ``count`` values from the start of ``topic`` in ``group`` and commit; raises KafkaException on error."""
    consumer = Consumer(
        {**cfg, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False, "error_cb": _raise}
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + ERROR_BOUND_S
    try:
        while len(values) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            values.append(msg.value() or b"")
        if values:
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return values


def _raise(err: KafkaError) -> None:
    raise KafkaException(err)


def test_each_service_user_does_its_job(secure_pipeline):
    p = secure_pipeline
    marker = uuid.uuid4().hex.encode()
    reviews = [marker + b" review %d" % i for i in range(3)]
    assert _produce(p.config("producer"), p.input_topic, reviews) == [None, None, None]

    consumer = p.config("consumer")
    seen = _consume(consumer, p.input_topic, p.group_id, 3)
    assert sorted(seen) == sorted(reviews)
    assert _produce(consumer, p.output_topic, [marker + b" scored"]) == [None]
    assert _produce(consumer, p.dlq_topic, [marker + b" dead-lettered"]) == [None]
    transactional_id = ServiceConfig({}, p.input_topic, p.output_topic, p.dlq_topic, p.group_id).transactional_id
    assert _produce(
        {**consumer, "transactional.id": transactional_id},
        p.output_topic,
        [marker + b" scored in a transaction"],
        transactional=True,
    ) == [None]

    results = _consume(p.config("dashboard"), p.output_topic, p.dashboard_group_id, 2)
    assert sorted(results) == [marker + b" scored", marker + b" scored in a transaction"]


def test_wrong_password_fails_fast_with_an_authentication_error(secure_pipeline):
    cfg = secure_pipeline.config("producer")
    errors: list[KafkaError] = []
    producer = Producer({**cfg, "sasl.password": cfg["sasl.password"] + "x", "error_cb": errors.append})
    producer.produce(secure_pipeline.input_topic, b"should never arrive")
    err = _error(producer, errors, KafkaError._AUTHENTICATION)
    assert "invalid credentials" in err.str() and "SCRAM-SHA-512" in err.str()
    producer.purge()


@pytest.mark.parametrize("user", ["nobody", "admin "])
def test_unknown_user_fails_fast_with_an_authentication_error(secure_pipeline, user):
    errors: list[KafkaError] = []
    consumer = Consumer(
        {**secure_pipeline.config("dashboard"), "sasl.username": user, "group.id": "any", "error_cb": errors.append}
    )
    consumer.subscribe([secure_pipeline.output_topic])
    try:
        assert "invalid credentials" in _error(consumer, errors, KafkaError._AUTHENTICATION).str()
    finally:
        consumer.close()


def test_a_client_without_tls_or_sasl_is_refused(secure_pipeline):
    errors: list[KafkaError] = []
    producer = Producer({"bootstrap.servers": secure_pipeline.broker.bootstrap, "error_cb": errors.append})
    delivered: list[KafkaError | None] = []
    producer.produce(secure_pipeline.input_topic, b"plaintext", on_delivery=lambda err, _msg: delivered.append(err))
    _error(producer, errors, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN)
    producer.purge()
    producer.flush(5)
    assert len(delivered) == 1 and delivered[0] is not None, "a plaintext client's message was delivered"


def test_a_broker_certificate_from_another_ca_is_refused(secure_pipeline, tmp_path):
    """A man in the middle with a certificate the client's CA did not sign is refused before any password is sent."""
    stranger_ca, _ = generate_tls()
    (tmp_path / "other-ca.pem").write_bytes(stranger_ca)
    errors: list[KafkaError] = []
    producer = Producer(
        {
            **secure_pipeline.config("producer"),
            "ssl.ca.location": str(tmp_path / "other-ca.pem"),
            "error_cb": errors.append,
        }
    )
    producer.produce(secure_pipeline.input_topic, b"to the wrong broker")
    assert "certificate verify failed" in _error(producer, errors, KafkaError._SSL).str()
    producer.purge()


def _produce_denied(p, user: str, topic_attr: str) -> int:
    (err,) = _produce(p.config(user), getattr(p, topic_attr), [b"forged"])
    assert err is not None, f"{user} could write {topic_attr}"
    return err.code()


def _consume_denied(p, user: str, topic_attr: str, group_attr: str) -> int:
    with pytest.raises(KafkaException) as caught:
        _consume(p.config(user), getattr(p, topic_attr), getattr(p, group_attr), 1)
    return caught.value.args[0].code()


def _admin_denied(p, user: str, action: Callable[[AdminClient], dict]) -> int:
    admin = AdminClient(p.config(user))
    futures = action(admin)
    with pytest.raises(KafkaException) as caught:
        for future in futures.values():
            future.result(timeout=ERROR_BOUND_S)
    return caught.value.args[0].code()


def _self_grant(admin: AdminClient) -> dict:
    everything = AclBinding(
        ResourceType.TOPIC,
        "*",
        ResourcePatternType.LITERAL,
        "User:consumer",
        "*",
        AclOperation.ALL,
        AclPermissionType.ALLOW,
    )
    return admin.create_acls([everything], request_timeout=ERROR_BOUND_S)


def _transaction_denied(p, user: str) -> int:
    with pytest.raises(KafkaException) as caught:
        _produce({**p.config(user), "transactional.id": "stolen-id"}, p.input_topic, [b"x"], transactional=True)
    return caught.value.args[0].code()


TOPIC_DENIED = KafkaError.TOPIC_AUTHORIZATION_FAILED
GROUP_DENIED = KafkaError.GROUP_AUTHORIZATION_FAILED
DENIALS: dict[str, tuple[Callable[[Any], int], tuple[int, ...]]] = {
    "producer forges a result": (lambda p: _produce_denied(p, "producer", "output_topic"), (TOPIC_DENIED,)),
    "producer writes the dead-letter topic": (lambda p: _produce_denied(p, "producer", "dlq_topic"), (TOPIC_DENIED,)),
    "producer reads the reviews": (
        lambda p: _consume_denied(p, "producer", "input_topic", "group_id"),
        (TOPIC_DENIED, GROUP_DENIED),
    ),
    "producer deletes the input topic": (
        lambda p: _admin_denied(
            p, "producer", lambda a: a.delete_topics([p.input_topic], request_timeout=ERROR_BOUND_S)
        ),
        (TOPIC_DENIED,),
    ),
    "producer opens a transaction": (
        lambda p: _transaction_denied(p, "producer"),
        (KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,),
    ),
    "dashboard reads the raw reviews": (
        lambda p: _consume_denied(p, "dashboard", "input_topic", "dashboard_group_id"),
        (TOPIC_DENIED,),
    ),
    "dashboard joins the consumer's group": (
        lambda p: _consume_denied(p, "dashboard", "output_topic", "group_id"),
        (GROUP_DENIED,),
    ),
    "dashboard forges a result": (lambda p: _produce_denied(p, "dashboard", "output_topic"), (TOPIC_DENIED,)),
    "consumer injects a review": (lambda p: _produce_denied(p, "consumer", "input_topic"), (TOPIC_DENIED,)),
    "consumer reads the results": (
        lambda p: _consume_denied(p, "consumer", "output_topic", "group_id"),
        (TOPIC_DENIED,),
    ),
    "consumer creates a topic": (
        lambda p: _admin_denied(
            p,
            "consumer",
            lambda a: a.create_topics(
                [NewTopic(f"sec-new-{uuid.uuid4().hex[:6]}", 1, 1)], request_timeout=ERROR_BOUND_S
            ),
        ),
        (TOPIC_DENIED,),
    ),
    "consumer grants itself every ACL": (
        lambda p: _admin_denied(p, "consumer", _self_grant),
        (KafkaError.CLUSTER_AUTHORIZATION_FAILED,),
    ),
}


@pytest.mark.parametrize("attack", DENIALS)
def test_a_user_without_the_acl_gets_an_authorization_error(secure_pipeline, attack):
    attempt, expected = DENIALS[attack]
    code = attempt(secure_pipeline)
    assert code in expected, (
        f"{attack}: got {KafkaError(code).name()}, expected {[KafkaError(c).name() for c in expected]}"
    )


@pytest.mark.parametrize(
    "user, visible",
    [
        ("dashboard", {"output_topic"}),
        ("producer", {"input_topic"}),
        ("consumer", {"input_topic", "output_topic", "dlq_topic"}),
    ],
)
def test_metadata_shows_a_user_only_the_topics_it_may_use(secure_pipeline, user, visible):
    topics = AdminClient(secure_pipeline.config(user)).list_topics(timeout=ERROR_BOUND_S).topics
    assert set(topics) == {getattr(secure_pipeline, name) for name in visible}


def test_secrets_never_appear_in_the_printed_configuration_or_logs(secure_pipeline, caplog):
    env = secure_pipeline.env("consumer")
    password = env["SENTIMENT_KAFKA_SASL_PASSWORD"]
    settings = config.resolve(("bootstrap_servers", "group_id"), environ=env)
    described = settings.describe()
    assert described["kafka"]["sasl.password"] == "*****"
    assert described["kafka"]["sasl.username"] == "consumer"  # not a secret: operators need to see who connects
    assert password not in json.dumps(described)

    record = logging.LogRecord("sentiment", logging.INFO, __file__, 1, "configuration", None, None)
    record.config = described
    assert password not in logs.JsonFormatter().format(record)


def test_the_broker_keeps_its_secrets_private_and_out_of_its_logs(secure_pipeline):
    broker = secure_pipeline.broker
    for private in (broker.credentials_file, broker.keystore_file, broker.instance / "server.properties"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
    assert stat.S_IMODE(broker.tls_dir.stat().st_mode) == 0o700
    logs_text = "".join(path.read_text(errors="replace") for path in (broker.instance / "logs").glob("*"))
    assert "SASL_SSL" in logs_text  # the log is the real one, with the listener in it
    for user, password in broker.passwords().items():
        assert password not in logs_text, f"{user}'s password is in the broker's log"
