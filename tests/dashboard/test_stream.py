"""The live reader against the real broker: exact counts, start positions, honest broker and topic states."""

from __future__ import annotations

import time
import uuid

import pytest

from common.config import ConfigError
from dashboard.aggregates import LiveStats
from dashboard.stream import StartPosition, StreamReader, parse_start
from localkafka import create_topics
from tests.dashboard.helpers import make_results, produce, wait_for


@pytest.mark.parametrize(
    "text, expected",
    [
        ("latest", StartPosition("latest")),
        ("BEGINNING", StartPosition("beginning")),
        ("minutes:15", StartPosition("minutes", 15)),
    ],
)
def test_parse_start(text, expected):
    assert parse_start(text) == expected
    assert str(parse_start(text)) == text.lower()


@pytest.mark.parametrize("text", ["", "now", "minutes:", "minutes:0", "minutes:-5", "minutes:abc"])
def test_parse_start_refuses_anything_else(text):
    with pytest.raises(ConfigError, match="--start"):
        parse_start(text)


def reader(
    bootstrap: str, topic: str, start: StartPosition, stats: LiveStats | None = None
) -> tuple[StreamReader, LiveStats]:
    stats = stats or LiveStats()
    config = {"bootstrap.servers": bootstrap, "group.id": f"dash-test-{uuid.uuid4().hex[:6]}"}
    return StreamReader(config, topic, stats, start, check_interval_s=0.3).start(), stats


@pytest.mark.integration
def test_counts_exactly_what_was_produced_across_partitions(kafka_bootstrap, make_topic):
    topic = make_topic("dash-read", partitions=4)
    pairs = [("positive", "positive")] * 130 + [("negative", "negative")] * 70 + [("negative", "positive")] * 9
    hostile = [
        None,
        b"{broken",
        b"[]",
        b'{"label": "maybe"}',
        b"[" * 100_000,
        b'{"id": "x", "label": "positive", "p_negative": 0.1, "model_version": "v", "scored_at": Infinity}',
    ]
    produce(kafka_bootstrap, topic, make_results(pairs) + hostile)
    live, stats = reader(kafka_bootstrap, topic, StartPosition("beginning"))
    try:
        wait_for(lambda: stats.snapshot().records_read == 215, what="every record")
        time.sleep(1.0)  # nothing more may arrive: no duplicates
        snap = stats.snapshot()
        assert snap.totals == {"positive": 130, "negative": 79}
        assert snap.unreadable == 6
        assert snap.confusion == {
            ("positive", "positive"): 130,
            ("negative", "negative"): 70,
            ("positive", "negative"): 9,
        }
        wait_for(lambda: stats.snapshot().lag == 0, what="the lag to reach 0")
        assert snap.broker.reachable and snap.broker.topic_exists
    finally:
        live.stop()


@pytest.mark.integration
def test_latest_skips_what_was_there_and_minutes_reads_the_recent_past(kafka_bootstrap, make_topic):
    topic = make_topic("dash-start", partitions=2)
    produce(kafka_bootstrap, topic, make_results([("positive", None)] * 11))
    latest, latest_stats = reader(kafka_bootstrap, topic, StartPosition("latest"))
    recent, recent_stats = reader(kafka_bootstrap, topic, StartPosition("minutes", 5))
    try:
        wait_for(lambda: recent_stats.snapshot().totals["positive"] == 11, what="the last 5 minutes")

        probes = []

        def latest_reads_new_results() -> bool:
            probes.append(produce(kafka_bootstrap, topic, make_results([("negative", None)])))
            return latest_stats.snapshot().totals["negative"] > 0

        # "latest" is wherever the end is once the reader is assigned: probe until it reads something new.
        wait_for(latest_reads_new_results, what="the latest reader to read new results")
        seen = latest_stats.snapshot().totals["negative"]
        produce(kafka_bootstrap, topic, make_results([("negative", None)] * 4))
        wait_for(lambda: latest_stats.snapshot().totals["negative"] >= seen + 4, what="the new results")
        wait_for(lambda: recent_stats.snapshot().records_read == 11 + len(probes) + 4, what="the recent reader")
        assert latest_stats.snapshot().totals["positive"] == 0, "latest never reads what was there before"
    finally:
        latest.stop()
        recent.stop()


@pytest.mark.integration
def test_a_missing_topic_is_reported_and_read_once_created(kafka_bootstrap):
    topic = f"dash-later-{uuid.uuid4().hex[:8]}"
    live, stats = reader(kafka_bootstrap, topic, StartPosition("beginning"))
    try:
        wait_for(lambda: stats.snapshot().broker.topic_exists is False, what="the missing-topic state")
        create_topics({"bootstrap.servers": kafka_bootstrap}, [topic], 2)
        produce(kafka_bootstrap, topic, make_results([("negative", None)] * 6))
        wait_for(lambda: stats.snapshot().totals["negative"] == 6, what="the results once the topic exists")
        assert stats.snapshot().broker.topic_exists is True
    finally:
        live.stop()


def test_a_broker_that_refuses_connections_is_reported_unreachable():
    live, stats = reader("127.0.0.1:1", "anything", StartPosition("latest"))
    try:
        wait_for(lambda: stats.snapshot().broker.reachable is False, what="the unreachable state")
        assert stats.snapshot().broker.error
    finally:
        live.stop()
