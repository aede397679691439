"""The consumer's guarantees under faults: exactly-once through repeated kill -9 and past a fenced zombie, scale-out
and scale-in under both delivery modes, live model swaps (a new folder, SIGHUP), the broker going away and coming
back, and the stall watchdog when it hangs instead."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from common import contract
from common.config import DEFAULT_MODEL_DIR
from localkafka import LocalKafka, create_topics
from localkafka.harness import (
    Topics,
    free_port,
    item_ids,
    output_ids,
    produce,
    produce_steadily,
    read_topic,
    review_items,
)

pytestmark = pytest.mark.integration

EOS = ("--delivery", "exactly-once")


def consumed(process) -> float:
    return process.metrics().get(("sentiment_messages_consumed_total", ()), 0.0)


@pytest.mark.slow
def test_exactly_once_through_repeated_kill_9(topics: Topics, start_consumer, reviews, record_property) -> None:
    items = review_items(reviews, 20_000, prefix="e", words=12)
    produce(topics.bootstrap, topics.input, items)
    kills = 0
    while kills < 5:
        process = start_consumer(topics, *EOS, "--max-batch", "128", "--instance-id", "eos-a")
        process.wait_ready()
        process.wait_metric("sentiment_messages_consumed_total", 1500)  # mid-stream: transactions open and committed
        process.kill()
        kills += 1
    survivor = start_consumer(topics, *EOS, "--max-batch", "128", "--instance-id", "eos-a")
    outputs = read_topic(topics.bootstrap, topics.output, ids=item_ids(items), timeout=240)
    ids = output_ids(outputs)
    record_property("kills", kills)
    assert set(ids) == {key.decode() for key, _ in items}  # nothing lost
    assert max(ids.values()) == 1 and sum(ids.values()) == len(items)  # nothing duplicated
    assert survivor.terminate() == 0


def test_a_frozen_instance_restarted_under_its_id_is_fenced_when_it_thaws_exits_1_and_nothing_is_scored_twice(
    topics: Topics, start_consumer, reviews
) -> None:
    # Dynamic membership: the group does not fence the second instance id, so only the transactional id can.
    same_instance = (*EOS, "--max-batch", "64", "--instance-id", "zombie", "--membership", "dynamic")
    items = review_items(reviews, 2000, prefix="z", words=20)  # 10 s at 200/s
    zombie = start_consumer(topics, *same_instance)
    zombie.wait_ready()
    restarted: list = []

    def freeze_and_restart(sent: int) -> None:
        if sent == 300:  # mid-stream, most likely inside a transaction
            zombie.proc.send_signal(signal.SIGSTOP)
            restarted.append(start_consumer(topics, *same_instance))

    produce_steadily(topics.bootstrap, topics.input, items[:1000], 200, freeze_and_restart)
    (successor,) = restarted
    successor.wait_owned(4)  # once the frozen instance's session expired
    zombie.proc.send_signal(signal.SIGCONT)
    produce_steadily(topics.bootstrap, topics.input, items[1000:], 200)

    assert zombie.proc.wait(60) == 1, zombie.log_tail()
    assert "fenced" in zombie.log_tail().lower(), zombie.log_tail()
    ids = output_ids(read_topic(topics.bootstrap, topics.output, ids=item_ids(items)))
    assert set(ids) == item_ids(items) and max(ids.values()) == 1
    assert successor.terminate() == 0


def test_scale_out_and_in_shares_partitions_without_loss_or_duplicates(topics: Topics, start_consumer, reviews) -> None:
    from producer.send import send_reviews

    first = start_consumer(topics, *EOS, "--max-batch", "64", "--instance-id", "scale-a")
    second = start_consumer(topics, *EOS, "--max-batch", "64", "--instance-id", "scale-b")
    first.wait_ready()
    second.wait_ready()
    records = [{"id": f"s{i}", "text": " ".join(r.text.split()[:12])} for i, r in enumerate(reviews[:4000])]
    send_reviews({"bootstrap.servers": topics.bootstrap}, topics.input, records[:1000])
    first.wait_metric("sentiment_messages_consumed_total", 1)
    second.wait_metric("sentiment_messages_consumed_total", 1)  # both share the work
    first.wait_owned(2)
    assert second.terminate() == 0  # scale in mid-stream: its partitions move to the survivor
    first.wait_owned(4)
    send_reviews({"bootstrap.servers": topics.bootstrap}, topics.input, records[1000:])

    ids = output_ids(read_topic(topics.bootstrap, topics.output, ids={r["id"] for r in records}))
    assert set(ids) == {r["id"] for r in records} and max(ids.values()) == 1
    lags = [labels for (name, labels) in first.metrics() if name == "sentiment_consumer_lag"]
    deadline = time.monotonic() + 10
    while len(lags) < 4 and time.monotonic() < deadline:  # the lag gauge follows the survivor's partitions
        time.sleep(0.5)
        lags = [labels for (name, labels) in first.metrics() if name == "sentiment_consumer_lag"]
    assert len(lags) == 4
    assert first.terminate() == 0


def test_at_least_once_scale_out_mid_stream_moves_half_the_partitions_and_loses_nothing(
    topics: Topics, start_consumer, reviews
) -> None:
    items = review_items(reviews, 2000, prefix="o", words=20)  # 10 s at 200/s
    first = start_consumer(topics, "--max-batch", "64")
    first.wait_ready()
    joined: list = []
    sent_when_shared: list[int] = []

    def scale_out(sent: int) -> None:
        if sent == 300:  # a second and a half into the stream
            joined.append(start_consumer(topics, "--max-batch", "64"))
        elif joined and not sent_when_shared and joined[0].partitions_owned() == 2:
            sent_when_shared.append(sent)

    produce_steadily(topics.bootstrap, topics.input, items, 200, scale_out)
    (second,) = joined
    assert sent_when_shared and sent_when_shared[0] < len(items), "the second consumer joined after the stream"
    second.wait_owned(2)
    first.wait_owned(2)
    outputs = read_topic(topics.bootstrap, topics.output, ids=item_ids(items))
    ids = output_ids(outputs)
    assert set(ids) == item_ids(items)
    # Revoking commits what was scored before the partitions move, so a graceful rebalance scores nothing twice.
    assert max(ids.values()) == 1, [review_id for review_id, count in ids.items() if count > 1][:10]
    # Cooperative-sticky: the first consumer gave up two partitions and kept scoring the other two throughout.
    owned = [e["owned"] for e in first.log_events("partitions ")]
    assert (owned[0], min(owned), owned[-1]) == (4, 2, 2), owned
    assert second.metrics()[("sentiment_messages_consumed_total", ())] > 0  # the newcomer took its share
    assert first.terminate() == 0 and second.terminate() == 0


def versioned_copy(source: Path, target: Path, version: str) -> None:
    shutil.copytree(source, target)
    metadata = json.loads((target / "metadata.json").read_text())
    metadata["version"] = version
    (target / "metadata.json").write_text(json.dumps(metadata))


def test_live_model_swap_switches_versions_at_one_point_and_loses_nothing(
    topics: Topics, start_consumer, reviews, predictor, tmp_path: Path
) -> None:
    serving = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, serving)
    new_version = f"{predictor.version}-reloaded"
    versioned_copy(DEFAULT_MODEL_DIR, tmp_path / "staged", new_version)
    items = review_items(reviews, 3000, prefix="m", words=30)
    process = start_consumer(topics, "--model-dir", str(serving), "--model-poll-seconds", "0.3", "--max-batch", "32")
    process.wait_ready()
    produce(topics.bootstrap, topics.input, items[:1500])
    process.wait_metric("sentiment_messages_consumed_total", 600)
    os.rename(serving, tmp_path / "retired")  # not atomic: in between there is no folder, and no switch
    os.rename(tmp_path / "staged", serving)

    # The rest only once the switch is logged: on a slow machine the first half can be scored before it, and then
    # no review would meet the new model (CI saw that once).
    def switched() -> bool:
        return '"msg": "model switched"' in process.log_path.read_text(errors="replace")

    deadline = time.monotonic() + 60
    while not switched() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert switched(), process.log_tail()
    produce(topics.bootstrap, topics.input, items[1500:])

    outputs = read_topic(topics.bootstrap, topics.output, ids=item_ids(items))
    ids = output_ids(outputs)
    assert set(ids) == {key.decode() for key, _ in items} and max(ids.values()) == 1
    results = [contract.decode_result(m.value() or b"") for m in outputs]
    assert Counter(r.model_version for r in results).keys() == {predictor.version, new_version}
    by_partition: dict[int | None, list[str]] = defaultdict(list)
    for message, result in sorted(
        zip(outputs, results, strict=True), key=lambda mr: (mr[0].partition(), mr[0].offset())
    ):
        by_partition[message.partition()].append(result.model_version)
    for versions in by_partition.values():  # old...old new...new in every partition: one switch point
        switch = versions.index(new_version) if new_version in versions else len(versions)
        assert set(versions[:switch]) <= {predictor.version} and set(versions[switch:]) <= {new_version}
    last_old = max(r.scored_at for r in results if r.model_version == predictor.version)
    first_new = min(r.scored_at for r in results if r.model_version == new_version)
    assert last_old <= first_new
    assert process.metrics()[("sentiment_model_info", (("version", new_version),))] == 1
    assert process.terminate() == 0


def test_sighup_switches_to_a_model_with_other_weights_and_its_outputs_follow_the_new_model(
    topics: Topics, start_consumer, reviews, predictor, candidate_model: Path, tmp_path: Path
) -> None:
    from model.predictor import Predictor

    serving = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, serving)
    candidate = Predictor.load(candidate_model, backend="onnxruntime")
    before = review_items(reviews, 200, prefix="old-", words=30)
    after = review_items(reviews, 200, prefix="new-", words=30)  # the same texts, scored again after the reload
    process = start_consumer(topics, "--model-dir", str(serving), "--model-poll-seconds", "0")  # SIGHUP only
    process.wait_ready()
    produce(topics.bootstrap, topics.input, before)
    read_topic(topics.bootstrap, topics.output, ids=item_ids(before))
    os.rename(serving, tmp_path / "retired")
    shutil.copytree(candidate_model, serving)
    process.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 60
    while not process.log_events("model switched"):
        assert time.monotonic() < deadline, process.log_tail()
        time.sleep(0.1)
    produce(topics.bootstrap, topics.input, after)

    results = {
        r.id: r
        for r in (
            contract.decode_result(m.value() or b"")
            for m in read_topic(topics.bootstrap, topics.output, ids=item_ids(before + after))
        )
    }
    texts = [json.loads(value)["text"] for _, value in before]
    for prefix, model in (("old-", predictor), ("new-", candidate)):
        for i, (label, p_negative) in enumerate(model.judge(texts)):
            result = results[f"{prefix}{i}"]
            assert (result.model_version, result.label) == (model.version, label)
            assert result.p_negative == pytest.approx(p_negative, abs=1e-6)
    moved = [abs(results[f"new-{i}"].p_negative - results[f"old-{i}"].p_negative) for i in range(len(texts))]
    assert sum(m > 1e-3 for m in moved) > len(texts) / 2, "other weights must change most outputs"
    assert process.metrics()[("sentiment_model_info", (("version", candidate.version),))] == 1
    assert process.terminate() == 0


def test_a_model_that_fails_to_load_is_logged_and_the_old_one_stays(predictor, tmp_path: Path) -> None:
    from consumer.model_reload import ModelWatcher
    from model.predictor import Predictor

    folder = tmp_path / "model"
    versioned_copy(DEFAULT_MODEL_DIR, folder, "broken")
    (folder / "model.onnx").write_bytes(b"half a model")
    watcher = ModelWatcher(folder, predictor, lambda d: Predictor.load(d, backend="onnxruntime"), poll_seconds=0)
    assert watcher.check() is False and watcher.current() is predictor
    shutil.copy(DEFAULT_MODEL_DIR / "model.onnx", folder / "model.onnx")  # the copy completes
    assert watcher.check() is True and watcher.current().version == "broken" and watcher.reloads == 1


@pytest.fixture(scope="module")
def own_broker():
    """A broker of this module's own, for the tests that stop or freeze it (each leaves it running): never the
    shared one."""
    port = free_port()
    broker = LocalKafka(port=port, controller_port=free_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(broker.instance, ignore_errors=True)


@pytest.mark.slow
def test_broker_restart_mid_stream_consumer_waits_reports_not_ready_and_loses_nothing(
    own_broker: LocalKafka, start_consumer, reviews
) -> None:
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(own_broker.bootstrap, f"in-{suffix}", f"out-{suffix}", f"dlq-{suffix}", f"g-{suffix}")
    create_topics({"bootstrap.servers": own_broker.bootstrap}, [topics.input, topics.output, topics.dlq], 4)
    items = review_items(reviews, 3000, prefix="b")
    process = start_consumer(topics, "--max-batch", "32")
    process.wait_ready()
    produce(topics.bootstrap, topics.input, items)
    process.wait_metric("sentiment_messages_consumed_total", 300)

    own_broker.stop()
    deadline = time.monotonic() + 60
    while process.get("/readyz")[0] != 503:
        assert time.monotonic() < deadline, "consumer still reports ready with the broker gone"
        time.sleep(0.3)
    assert process.alive()
    own_broker.start()

    ids = output_ids(read_topic(topics.bootstrap, topics.output, ids=item_ids(items), timeout=240))
    assert set(ids) == {key.decode() for key, _ in items}
    process.wait_ready(timeout=60)
    assert process.terminate() == 0


def test_a_broker_that_stops_answering_inside_a_transaction_ends_the_stalled_consumer_with_exit_70(
    own_broker: LocalKafka, start_consumer, reviews
) -> None:
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(own_broker.bootstrap, f"in-{suffix}", f"out-{suffix}", f"dlq-{suffix}", f"g-{suffix}")
    create_topics({"bootstrap.servers": own_broker.bootstrap}, [topics.input, topics.output, topics.dlq], 4)
    produce(topics.bootstrap, topics.input, review_items(reviews, 5000, prefix="h", words=12))
    process = start_consumer(topics, *EOS, "--max-batch", "16", "--stall-timeout", "5")
    process.wait_ready()
    process.wait_metric("sentiment_messages_consumed_total", 300)  # hundreds of transactions still to go
    broker_pid = own_broker.pid()
    assert broker_pid is not None
    os.kill(broker_pid, signal.SIGSTOP)  # connections stay open and nothing answers: the transaction call hangs
    try:
        assert process.proc.wait(60) == 70, process.log_tail()
    finally:
        os.kill(broker_pid, signal.SIGCONT)
    stalled = process.log_events("no progress")
    assert len(stalled) == 1 and stalled[0]["stalled_seconds"] >= 5, process.log_tail()
