"""``sentiment-consumer`` as a real subprocess against the real broker: outputs, dead letters,
kill -9, SIGTERM, metrics and start-up checks."""

from __future__ import annotations

import bz2
import json
import subprocess
import time
from collections import Counter

import pytest

from common import contract
from common.labels import Label
from localkafka.harness import (
    CONSUMER_BIN,
    Topics,
    committed_offsets,
    end_offsets,
    item_ids,
    output_ids,
    produce,
    produce_steadily,
    read_topic,
    review_items,
)

pytestmark = pytest.mark.integration


def wait_committed(topics: Topics, timeout: float = 60.0) -> dict[int, int]:
    """Until the group's committed offsets reach the input's end offsets."""
    ends = end_offsets(topics.bootstrap, topics.input)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        committed = committed_offsets(topics.bootstrap, topics.group, topics.input)
        if all(committed.get(p, -1) >= end for p, end in ends.items() if end > 0):
            return committed
        time.sleep(0.5)
    raise AssertionError(f"committed {committed} never reached the end offsets {ends}")


def input_ids_by_position(topics: Topics, count: int) -> dict[tuple[int, int], str]:
    messages = read_topic(topics.bootstrap, topics.input, count)
    return {(m.partition(), m.offset()): (m.key() or b"").decode() for m in messages}  # type: ignore[misc]  # consumed: both set


def test_every_review_gets_one_output_equal_to_the_predictor_and_metrics_count_them(
    topics: Topics, start_consumer, reviews, predictor
) -> None:
    items = review_items(reviews, 400)
    consumer = start_consumer(topics, "--max-batch", "64")
    consumer.wait_ready()
    produce(topics.bootstrap, topics.input, items)
    consumer.wait_metric("sentiment_predictions_total", 1, label="negative")
    wait_committed(topics)

    outputs = read_topic(topics.bootstrap, topics.output, ids=item_ids(items))
    assert output_ids(outputs) == Counter(key.decode() for key, _ in items)  # exactly one each
    texts = {key.decode(): json.loads(value)["text"] for key, value in items}
    direct = dict(zip(texts, predictor.predict(list(texts.values())), strict=True))
    labels: Counter[str] = Counter()
    for message in outputs:
        result = contract.decode_result(message.value() or b"")
        label, p_negative = direct[result.id]
        assert message.key() == result.id.encode()
        assert result.p_negative == pytest.approx(p_negative, abs=1e-5)
        assert result.label == label or abs(p_negative - 0.5) < 1e-5
        assert result.model_version == predictor.version
        assert isinstance(result.true_label, Label) and result.event_time is not None
        labels[result.label] += 1

    scrape = consumer.metrics()
    assert scrape[("sentiment_messages_consumed_total", ())] == len(items)
    for label, count in labels.items():
        assert scrape[("sentiment_predictions_total", (("label", label),))] == count
    assert scrape[("sentiment_batch_size_sum", ())] == len(items)
    assert scrape[("sentiment_end_to_end_latency_seconds_count", ())] == len(items)
    assert scrape[("sentiment_inference_seconds_count", ())] >= len(items) / 64
    assert scrape[("sentiment_commits_total", ())] >= 1
    assert scrape[("sentiment_rebalances_total", (("kind", "assign"),))] >= 1
    assert scrape[("sentiment_model_info", (("version", predictor.version),))] == 1
    lags = {labels: v for (name, labels), v in scrape.items() if name == "sentiment_consumer_lag"}
    assert len(lags) == 4 and all(v >= 0 for v in lags.values())
    assert consumer.get("/healthz")[0] == 200
    assert consumer.terminate() == 0


def test_offsets_are_committed_at_most_once_per_commit_interval_and_the_last_one_promptly(
    topics: Topics, start_consumer, reviews
) -> None:
    items = review_items(reviews, 600, words=20)
    consumer = start_consumer(topics, "--max-batch", "16", "--max-wait-ms", "5", "--commit-interval-ms", "1000")
    consumer.wait_ready()
    started = time.monotonic()
    for i in range(0, len(items), 20):  # a trickle: many small batches, each acknowledged on its own
        produce(topics.bootstrap, topics.input, items[i : i + 20])
        time.sleep(0.1)
    consumer.wait_metric("sentiment_messages_consumed_total", len(items))
    wait_committed(topics, timeout=10)
    elapsed = time.monotonic() - started

    scrape = consumer.metrics()
    assert scrape[("sentiment_batch_size_count", ())] >= 30
    assert 1 <= scrape[("sentiment_commits_total", ())] <= elapsed + 1
    assert consumer.terminate() == 0


@pytest.mark.parametrize("policy, batches", [("adaptive", 3), ("fixed", 1)])
def test_adaptive_batching_scores_a_trickle_at_once_and_fixed_batching_fills_up_to_max_wait(
    topics: Topics, start_consumer, reviews, policy: str, batches: int
) -> None:
    """Three reviews 1.5 s apart with a 6 s max wait: adaptive scores each alone, fixed holds them for one batch."""
    items = review_items(reviews, 3, words=20)
    consumer = start_consumer(topics, "--batch-policy", policy, "--max-wait-ms", "6000", "--max-batch", "256")
    consumer.wait_ready()
    for item in items:
        produce(topics.bootstrap, topics.input, [item])
        time.sleep(1.5)
    outputs = read_topic(topics.bootstrap, topics.output, len(items), timeout=60)
    assert output_ids(outputs) == Counter(item_ids(items))
    scrape = consumer.metrics()
    assert scrape[("sentiment_batch_size_count", ())] == batches
    assert scrape[("sentiment_batch_size_sum", ())] == len(items)
    assert consumer.terminate() == 0


POISON = {
    contract.NOT_UTF8: b"\xff\xfe\xfa not utf-8",
    contract.NOT_JSON: b'{"text": "unterminated',
    contract.NOT_OBJECT: b'[{"text": "in a list"}]',
    contract.NO_TEXT: b'{"title": "a title but no text"}',
    contract.EMPTY_TEXT: b'{"text": "   "}',
    contract.TEXT_TOO_LONG: json.dumps({"text": "long " * 1000}).encode(),
    contract.NO_WORDS: b"!!!! ????",
}


def test_poison_messages_go_to_the_dead_letter_topic_and_the_rest_is_scored(
    topics: Topics, start_consumer, reviews
) -> None:
    good = review_items(reviews, 200)
    items: list[tuple[bytes | None, bytes | None]] = []
    for i, (key, value) in enumerate(good):
        items.append((key, value))
        if i % 25 == 0 and i // 25 < len(POISON):
            reason = list(POISON)[i // 25]
            items.append((f"poison-{reason}".encode(), POISON[reason]))
    items.append((b"poison-tombstone", None))
    consumer = start_consumer(topics, "--max-text-bytes", "2000")
    consumer.wait_ready()
    produce(topics.bootstrap, topics.input, items)

    dead = read_topic(topics.bootstrap, topics.dlq, at_least=len(POISON) + 1)
    outputs = read_topic(topics.bootstrap, topics.output, ids=item_ids(good))
    assert output_ids(outputs) == Counter(key.decode() for key, _ in good)
    originals = {key: value for key, value in items if key and key.startswith(b"poison-")}
    seen: Counter[str] = Counter()
    for message in dead:
        reason = contract.header_value(message.headers(), contract.H_ERROR_CODE) or ""
        seen[reason] += 1
        assert message.value() == (originals[message.key() or b""] or b"")
        expected = (
            "no_text"
            if message.key() == b"poison-tombstone"
            else (message.key() or b"").decode().removeprefix("poison-")
        )
        assert reason == expected
        assert contract.header_value(message.headers(), contract.H_ERROR_MESSAGE)
        assert contract.header_value(message.headers(), contract.H_SOURCE_TOPIC) == topics.input
        assert int(contract.header_value(message.headers(), contract.H_SOURCE_OFFSET) or "") >= 0
    assert seen == Counter({**{r: 1 for r in POISON}, contract.NO_TEXT: 2})

    assert consumer.alive()
    consumer.wait_metric("sentiment_dead_letters_total", 2, reason=contract.NO_TEXT)
    scrape = consumer.metrics()
    for reason, count in seen.items():
        assert scrape[("sentiment_dead_letters_total", (("reason", reason),))] == count
    assert scrape[("sentiment_messages_consumed_total", ())] == len(items)
    assert consumer.terminate() == 0


def test_every_test_sample_review_as_bare_text_is_scored_like_its_json_object(
    topics: Topics, start_consumer, review_data
) -> None:
    with bz2.open(review_data / "amazon_polarity" / "test.sample.ft.txt.bz2", "rt", encoding="utf-8") as lines:
        texts = [line.rstrip("\n").split(" ", 1)[1] for line in lines]  # the bare text after "__label__N "
    bare = [(f"bare-{i}".encode(), text.encode()) for i, text in enumerate(texts)]
    objects = [
        (f"json-{i}".encode(), contract.encode_review(contract.Review(f"json-{i}", text)))
        for i, text in enumerate(texts)
    ]
    consumer = start_consumer(topics)
    consumer.wait_ready()
    produce(topics.bootstrap, topics.input, bare + objects)
    wait_committed(topics, timeout=600)

    outputs = read_topic(topics.bootstrap, topics.output, ids=item_ids(bare + objects), timeout=120)
    p_negative = {r.id: r.p_negative for r in map(contract.decode_result, (m.value() or b"" for m in outputs))}
    assert len(texts) == 6459 and len(p_negative) == 2 * len(texts)
    assert read_topic(topics.bootstrap, topics.dlq, timeout=5) == []
    assert all(p_negative[f"bare-{i}"] == p_negative[f"json-{i}"] for i in range(len(texts)))
    assert consumer.terminate() == 0


# Each case of the contract's rules (README, "Message contract") with its documented outcome: "scored" or the
# dead-letter reason, and for a scored review the optional fields it lost.
CASES: dict[str, tuple[bytes, str, list[str]]] = {
    "quote first": (b'"Gentlemen, start your screaming!": Danny DeVito makes it', "scored", []),
    "bracket first": (b"[aweful]: This is probably the most ill-formed book", "scored", []),
    "update tag": (b"[Update] Broke after a month", "scored", []),
    "brace first": (b"{sigh} another dud.", "scored", []),
    "JSON after a BOM": (b'\xef\xbb\xbf{"text": "Broke after a month", "id": "bom-1", "label": "neg"}', "scored", []),
    "empty label": (b'{"text": "Broke after a month", "label": ""}', "scored", ["label"]),
    "short label": (b'{"text": "Broke after a month", "label": "neg"}', "scored", []),
    "float id": (b'{"text": "Broke after a month", "id": 12.0}', "scored", []),
    "ISO ts": (b'{"text": "Broke after a month", "ts": "2024-01-02T03:04:05Z"}', "scored", []),
    "negative ts": (b'{"text": "Broke after a month", "ts": -5}', "scored", ["ts"]),
    "far-future ts and a bad title": (b'{"text": "Broke", "ts": "2999-01-01", "title": 5}', "scored", ["title", "ts"]),
    "exclamations": (b"!!!!", contract.NO_WORDS, []),
    "dots": (b"....", contract.NO_WORDS, []),
    "NUL bytes": (b"\x00" * 16, contract.NO_WORDS, []),
    "control characters": (b"\x01\x02\x1b\x7f", contract.NO_WORDS, []),
    "emoji": ("😀👍".encode(), contract.NO_WORDS, []),
    "N/A": (b"N/A", contract.NO_WORDS, []),
    "JSON null": (b"null", contract.NOT_OBJECT, []),
    "JSON true": (b"true", contract.NOT_OBJECT, []),
    "JSON number": (b"42", contract.NOT_OBJECT, []),
    "broken object": (b'{"text": "unterminated', contract.NOT_JSON, []),
}


def test_each_decoding_case_has_its_documented_outcome_and_dropped_fields_are_counted(
    topics: Topics, start_consumer
) -> None:
    items = [(f"case-{i}".encode(), value) for i, (value, _, _) in enumerate(CASES.values())]
    consumer = start_consumer(topics)
    consumer.wait_ready()
    produce(topics.bootstrap, topics.input, items)
    wait_committed(topics)

    expected = {f"case-{i}": (outcome, dropped) for i, (_, outcome, dropped) in enumerate(CASES.values())}
    scored = {k for k, (outcome, _) in expected.items() if outcome == "scored"}
    outcomes: dict[str, tuple[str | None, list[str]]] = {}
    outputs = read_topic(topics.bootstrap, topics.output, at_least=len(scored))  # ids: some inputs carry their own
    for message in outputs:
        doc = json.loads(message.value() or b"")
        outcomes[(message.key() or b"").decode()] = ("scored", sorted(w["field"] for w in doc.get("warnings", [])))
    for message in read_topic(topics.bootstrap, topics.dlq, at_least=len(expected) - len(scored)):
        outcomes[(message.key() or b"").decode()] = (
            contract.header_value(message.headers(), contract.H_ERROR_CODE),
            [],
        )
    assert {name: outcomes[f"case-{i}"] for i, name in enumerate(CASES)} == {
        name: (outcome, dropped) for name, (_, outcome, dropped) in CASES.items()
    }

    bom = next(
        contract.decode_result(m.value() or b"")
        for m in outputs
        if m.key() == f"case-{list(CASES).index('JSON after a BOM')}".encode()
    )
    assert (bom.id, bom.true_label) == ("bom-1", "negative")
    scrape = consumer.metrics()
    dropped = Counter(field for _, outcome, fields in CASES.values() for field in fields)
    for field, count in dropped.items():
        assert scrape[("sentiment_dropped_fields_total", (("field", field),))] == count
    no_words = sum(outcome == contract.NO_WORDS for _, outcome, _ in CASES.values())
    assert scrape[("sentiment_dead_letters_total", (("reason", contract.NO_WORDS),))] == no_words
    assert consumer.terminate() == 0


COMMIT_INTERVAL_S = 1.0
# What may pass between scoring a review and its offset's commit landing, beyond the commit interval itself: the
# output's acknowledgement, the loop turn that commits, the commit's round trip (generous for a busy machine).
COMMIT_SLACK_S = 1.5


def test_kill_9_mid_stream_loses_nothing_and_scores_again_only_what_the_last_commit_interval_scored(
    topics: Topics, start_consumer, reviews, record_property
) -> None:
    items = review_items(reviews, 1600, words=30)
    consumer_args = (
        "--max-batch",
        "64",
        "--commit-interval-ms",
        str(int(COMMIT_INTERVAL_S * 1000)),
        "--instance-id",
        "kill-9",
    )  # the restart is the same instance: it takes its partitions back at once
    first = start_consumer(topics, *consumer_args)
    first.wait_ready()
    killed_at = 0.0

    def kill_after_five_seconds(sent: int) -> None:  # of steady scoring and committing behind it
        nonlocal killed_at
        if sent == 1000:
            assert first.alive(), first.log_tail()
            killed_at = time.time()
            first.kill()

    produce_steadily(topics.bootstrap, topics.input, items, 200, kill_after_five_seconds)  # one consumer keeps up

    second = start_consumer(topics, *consumer_args)
    outputs = read_topic(topics.bootstrap, topics.output, ids=item_ids(items))
    ids = output_ids(outputs)
    assert set(ids) == item_ids(items)  # nothing lost
    first_scored: dict[str, float] = {}
    for message in outputs:
        review_id = json.loads(message.value() or b"")["id"]
        first_scored[review_id] = min(first_scored.get(review_id, float("inf")), message.timestamp()[1] / 1000.0)
    ages = [killed_at - first_scored[review_id] for review_id, count in ids.items() if count > 1]
    oldest = max(ages, default=0.0)
    record_property("duplicates_after_kill_9", len(ages))
    record_property("oldest_duplicate_seconds_before_kill", round(oldest, 3))
    # Scored again only when first scored after the last commit before the kill: within one commit interval of it.
    assert oldest <= COMMIT_INTERVAL_S + COMMIT_SLACK_S, (
        f"{len(ages)} duplicates, the oldest scored {oldest:.2f} s before"
    )
    assert second.terminate() == 0


def test_sigterm_finishes_the_batch_in_hand_commits_and_exits_0(topics: Topics, start_consumer, reviews) -> None:
    items = review_items(reviews, 3000)
    consumer = start_consumer(topics, "--max-batch", "128")
    consumer.wait_ready()
    produce(topics.bootstrap, topics.input, items)
    consumer.wait_metric("sentiment_messages_consumed_total", 500)
    assert consumer.terminate() == 0

    committed = committed_offsets(topics.bootstrap, topics.group, topics.input)
    assert sum(max(0, offset) for offset in committed.values()) >= 500
    by_position = input_ids_by_position(topics, len(items))
    done = {review_id for (part, offset), review_id in by_position.items() if offset < committed.get(part, 0)}
    outputs = output_ids(read_topic(topics.bootstrap, topics.output, ids=done))
    assert set(outputs) == done  # everything committed has its output, and nothing beyond was published
    assert max(outputs.values()) == 1


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CONSUMER_BIN), "--metrics-port", "0", *args], capture_output=True, text=True, timeout=timeout
    )


def test_bad_configuration_fails_at_start_up_with_one_clear_line(topics: Topics, tmp_path) -> None:
    missing = run_cli(*topics.flags(), "--input-topic", "no-such-topic-here", "-X", "sasl.password=hunter2")
    assert missing.returncode == 2 and "no-such-topic-here" in missing.stderr.splitlines()[-1]
    assert "hunter2" not in missing.stderr and "*****" in missing.stderr  # config printed, secret masked

    no_model = run_cli(*topics.flags(), "--model-dir", str(tmp_path))
    assert no_model.returncode == 2 and "does not load" in no_model.stderr.splitlines()[-1]

    short_poll = run_cli(*topics.flags(), "-X", "max.poll.interval.ms=1000")
    assert short_poll.returncode == 2 and "max.poll.interval.ms" in short_poll.stderr.splitlines()[-1]

    bad_value = run_cli(*topics.flags(), "--delivery", "at-most-once")
    assert bad_value.returncode == 2 and "--delivery" in bad_value.stderr
