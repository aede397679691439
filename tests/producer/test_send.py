"""send_reviews against the real broker: everything sent arrives exactly once, pacing, clear failures."""

from __future__ import annotations

import base64
import itertools
import json
import os
import socket
import threading
import time

import pytest

from common.readers import MalformedInput, read_records
from producer.send import ProducerError, send_reviews
from tests.conftest import TEST_SAMPLE

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_every_record_arrives_once_with_its_id_text_and_label(kafka_bootstrap, make_topic, read_back, review_data):
    records = list(read_records(TEST_SAMPLE, limit=3000))
    topic = make_topic("producer-exact", partitions=3)
    summary = send_reviews({"bootstrap.servers": kafka_bootstrap}, topic, records, with_labels=True)
    assert (summary.sent, summary.failed) == (len(records), 0)
    messages = read_back(topic, len(records))
    assert len(messages) == len(records)
    by_id = {doc["id"]: (key, doc) for key, doc in messages}
    assert len(by_id) == len(records), "a review arrived twice"
    for record in records:
        key, doc = by_id[str(record.line)]
        assert key == str(record.line).encode()
        assert doc["text"] == record.text
        assert record.label is not None and doc["label"] == record.label.value


def test_labels_are_left_out_unless_asked(kafka_bootstrap, make_topic, read_back):
    topic = make_topic("producer-nolabel", partitions=1)
    reviews = [{"text": f"review number {i}", "id": f"r{i}", "label": i % 2} for i in range(50)]
    assert send_reviews({"bootstrap.servers": kafka_bootstrap}, topic, reviews).sent == 50
    docs = [doc for _, doc in read_back(topic, 50)]
    assert sorted(doc["id"] for doc in docs) == sorted(f"r{i}" for i in range(50))
    assert not any("label" in doc for doc in docs)


def test_rate_paces_the_send_over_the_schedule(kafka_bootstrap, make_topic, read_back):
    topic = make_topic("producer-rate", partitions=1)
    count, rate = 30, 20.0
    reviews = ({"text": f"paced review {i}", "id": str(i)} for i in range(count))
    summary = send_reviews({"bootstrap.servers": kafka_bootstrap}, topic, reviews, rate=rate)
    assert summary.sent == count
    schedule = (count - 1) / rate  # the last review is due this long after the first
    assert summary.seconds >= 0.9 * schedule
    stamps = sorted(doc["ts"] for _, doc in read_back(topic, count))
    assert stamps[-1] - stamps[0] >= 0.9 * schedule


def test_limit_and_stop_end_the_send_early(kafka_bootstrap, make_topic):
    topic = make_topic("producer-stop", partitions=1)
    endless = ({"text": f"review {i}", "id": str(i)} for i in itertools.count())
    assert send_reviews({"bootstrap.servers": kafka_bootstrap}, topic, endless, limit=123).sent == 123
    stop = threading.Event()
    stop.set()
    assert send_reviews({"bootstrap.servers": kafka_bootstrap}, topic, endless, stop=stop).sent == 0


def test_unreachable_broker_is_a_clear_error():
    port = _free_port()  # nothing listens there
    with pytest.raises(ProducerError, match=f"cannot reach the Kafka broker at 127.0.0.1:{port} within 2 s"):
        send_reviews({"bootstrap.servers": f"127.0.0.1:{port}"}, "reviews", [{"text": "x"}], connect_timeout=2)


def test_missing_topic_is_a_clear_error(kafka_bootstrap):
    with pytest.raises(ProducerError, match="topic 'no-such-topic-for-producer' does not exist"):
        send_reviews({"bootstrap.servers": kafka_bootstrap}, "no-such-topic-for-producer", [{"text": "x"}])


def test_a_review_the_broker_rejects_counts_as_failed(kafka_bootstrap, make_topic, read_back):
    topic = make_topic("producer-reject", partitions=1)
    too_big = base64.b64encode(os.urandom(3_000_000)).decode()  # over the broker's 1 MB limit even compressed
    reviews = [{"text": "fine", "id": "a"}, {"text": too_big, "id": "big"}, {"text": "also fine", "id": "b"}]
    summary = send_reviews({"bootstrap.servers": kafka_bootstrap, "message.max.bytes": 10_000_000}, topic, reviews)
    assert (summary.sent, summary.failed) == (2, 1)
    assert summary.first_errors and summary.first_errors[0].startswith("review big:")
    assert sorted(doc["id"] for _, doc in read_back(topic, 2)) == ["a", "b"]


def test_a_review_over_the_producer_limit_fails_alone_and_the_send_goes_on(kafka_bootstrap, make_topic, read_back):
    topic = make_topic("producer-oversized", partitions=1)
    reviews = [
        {"text": "fine", "id": "a", "line": 1},
        {"text": "y" * 1_200_000, "id": "big", "line": 2},
        {"text": "also fine", "id": "b", "line": 3},
    ]
    summary = send_reviews({"bootstrap.servers": kafka_bootstrap}, topic, reviews)
    assert (summary.sent, summary.failed) == (2, 1)
    assert summary.first_errors[0].startswith("review big (line 2): 1,200,")
    assert summary.first_errors[0].endswith("over the producer's limit of 1,000,000 (message.max.bytes)")
    assert sorted(doc["id"] for _, doc in read_back(topic, 2)) == ["a", "b"]


def test_reviews_queued_before_a_reader_error_are_still_delivered(kafka_bootstrap, make_topic, read_back):
    topic = make_topic("producer-reader-error", partitions=1)

    def failing():
        yield from ({"text": f"good review {i}", "id": str(i)} for i in range(40))
        raise MalformedInput("line 41: not a review")

    with pytest.raises(MalformedInput):
        send_reviews({"bootstrap.servers": kafka_bootstrap, "linger.ms": 1000}, topic, failing())
    assert sorted(int(doc["id"]) for _, doc in read_back(topic, 40)) == list(range(40))


def test_stop_ends_a_slowly_paced_send_without_waiting_for_the_next_turn(kafka_bootstrap, make_topic):
    topic = make_topic("producer-slow-stop", partitions=1)
    event = threading.Event()
    stop = threading.Timer(3.0, event.set)  # ample for the broker check and the first send, far below the 100 s turn
    stop.start()
    began = time.monotonic()
    summary = send_reviews(
        {"bootstrap.servers": kafka_bootstrap},
        topic,
        ({"text": f"review {i}", "id": str(i)} for i in range(10)),
        rate=0.01,
        stop=event,
    )
    assert summary.sent == 1  # the first is due at once, the second 100 s later
    assert time.monotonic() - began < 60, "stop waited out the 100 s turn"


class _InstantPoll:
    """A producer whose ``poll`` returns at once whatever the timeout, as librdkafka's does for under a millisecond."""

    def __init__(self) -> None:
        self.polls = 0

    def poll(self, _timeout: float = 0.0) -> int:
        self.polls += 1
        return 0


@pytest.mark.parametrize("rate", [2_000, 20])
def test_pacing_sleeps_between_messages_instead_of_spinning(rate):
    """Above 1,000 reviews/s the gap between messages is under poll()'s millisecond resolution; pacing used to spin
    on poll there (a whole core at 1,600/s). Sleeping, it polls a few times per message at most."""
    from producer.send import Pacer

    producer = _InstantPoll()
    pacer = Pacer(rate, producer)  # type: ignore[arg-type]  # a fake with the methods Pacer calls
    messages = rate // 10  # a tenth of a second
    for _ in range(messages):
        assert pacer.wait_turn()
    assert producer.polls <= 3 * messages + 10


def test_a_paced_review_is_stamped_when_it_is_sent_not_a_pacing_interval_before(kafka_bootstrap, make_topic):
    """The event time ("ts") is the review's send time: downstream latency is measured from it."""
    from localkafka.harness import read_topic

    topic = make_topic("producer-ts", partitions=1)
    rate = 2.0  # a 0.5 s interval: stamping before waiting would put ts 0.5 s before the produce call
    send_reviews(
        {"bootstrap.servers": kafka_bootstrap},
        topic,
        ({"text": f"review {i}", "id": str(i)} for i in range(6)),
        rate=rate,
    )
    for message in read_topic(kafka_bootstrap, topic, 6):
        produced_at = message.timestamp()[1] / 1000.0  # CreateTime: librdkafka stamps it in produce()
        assert produced_at - json.loads(message.value() or b"")["ts"] < 0.25 / rate
