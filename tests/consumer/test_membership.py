"""Static membership against the real broker: a restarted consumer takes its partitions back at once, and two live
consumers with one instance id are a configuration error, not a silent tug of war."""

from __future__ import annotations

import time

import pytest

from localkafka.harness import Topics, item_ids, output_ids, produce, read_topic, review_items

pytestmark = pytest.mark.integration

# Long enough that waiting out the dead member's session cannot pass for taking its partitions back.
SESSION = ("-X", "session.timeout.ms=60000")


@pytest.mark.parametrize("membership, back_within_session", [("static", True), ("dynamic", False)])
def test_a_consumer_restarted_after_kill_9_takes_its_partitions_back_without_waiting_out_its_session(
    topics: Topics, start_consumer, reviews, membership: str, back_within_session: bool
) -> None:
    first = produce_and_score(topics, start_consumer, reviews, membership, "r1-")
    first.kill()
    restarted = start_consumer(topics, "--instance-id", "member-a", "--membership", membership, *SESSION)
    if back_within_session:
        restarted.wait_ready(timeout=40)
    items = review_items(reviews, 50, prefix="r2-", words=12)
    produce(topics.bootstrap, topics.input, items)
    if back_within_session:  # all of it well inside the dead member's 60-s session
        outputs = read_topic(topics.bootstrap, topics.output, ids=item_ids(items), timeout=40)
        assert output_ids(outputs).keys() >= item_ids(items)
    else:
        outputs = read_topic(topics.bootstrap, topics.output, ids=item_ids(items), timeout=15)
        assert not item_ids(items) & set(output_ids(outputs)), "a dynamic member waits for the dead one's session"
    restarted.kill()


def produce_and_score(topics: Topics, start_consumer, reviews, membership: str, prefix: str):
    consumer = start_consumer(topics, "--instance-id", "member-a", "--membership", membership, *SESSION)
    consumer.wait_ready()
    items = review_items(reviews, 50, prefix=prefix, words=12)
    produce(topics.bootstrap, topics.input, items)
    read_topic(topics.bootstrap, topics.output, ids=item_ids(items), timeout=60)
    return consumer


def test_a_second_live_consumer_with_the_same_instance_id_stops_one_of_them_with_exit_2(
    topics: Topics, start_consumer, reviews
) -> None:
    first = produce_and_score(topics, start_consumer, reviews, "static", "f-")
    second = start_consumer(topics, "--instance-id", "member-a", "--membership", "static", *SESSION)
    deadline = time.monotonic() + 90
    while first.alive() and second.alive() and time.monotonic() < deadline:
        time.sleep(0.5)
    stopped, survivor = (first, second) if not first.alive() else (second, first)
    assert not stopped.alive(), "two live consumers kept the same instance id"
    assert stopped.proc.wait(5) == 2
    assert "'member-a'" in stopped.log_tail() and "its own" in stopped.log_tail()
    assert survivor.alive()
    survivor.kill()
