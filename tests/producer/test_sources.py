"""Review sources without a broker: ids, looping, bounded shuffling, message encoding."""

from __future__ import annotations

import itertools
import json

import pytest

from common.contract import Review, Source, decode_review
from common.labels import Label
from common.readers import Record
from producer.send import message_of
from producer.sources import FileSource, TextSource, reviews, shuffled


def test_ids_are_file_positions_and_stay_unique_when_looping(tmp_path):
    path = tmp_path / "r.ft.txt"
    path.write_text("__label__1 Bad: broke.\n\n__label__2 Good: works.\n")
    once = list(reviews(FileSource(str(path)), id_prefix="f-"))
    assert [(r["id"], r["text"], r["label"]) for r in once] == [
        ("f-1", "Bad: broke.", Label.NEGATIVE),
        ("f-3", "Good: works.", Label.POSITIVE),
    ]
    looped = list(itertools.islice(reviews(FileSource(str(path)), loop=True), 5))
    assert [r["id"] for r in looped] == ["1:1", "1:3", "2:1", "2:3", "3:1"]


def test_looping_over_an_empty_source_ends():
    assert list(reviews(TextSource([]), loop=True)) == []


def test_stdin_cannot_loop():
    with pytest.raises(ValueError, match="stdin"):
        next(reviews(FileSource("-"), loop=True))


@pytest.mark.parametrize("buffer_size", [1, 7, 100, 1000])
def test_shuffle_keeps_every_item_once(buffer_size):
    items = [{"id": str(i)} for i in range(300)]
    out = list(shuffled(iter(items), buffer_size, seed=1))
    assert sorted(int(r["id"]) for r in out) == list(range(300))
    if buffer_size > 1:
        assert out != items


def test_shuffle_moves_items_at_most_a_buffer_earlier():
    out = [int(r["id"]) for r in shuffled(({"id": str(i)} for i in range(2000)), 50, seed=3)]
    assert all(item - position <= 50 for position, item in enumerate(out))


def test_message_of_a_record_and_a_dict():
    key, value = message_of(Record("Great pan.", Label.POSITIVE, 12), with_labels=True)
    assert key == b"12"
    doc = json.loads(value)
    assert (doc["id"], doc["text"], doc["label"]) == ("12", "Great pan.", "positive")
    key, value = message_of({"text": "Awful.", "id": 7, "label": 1, "title": "t", "ts": 5.0}, with_labels=False)
    doc = json.loads(value)
    assert key == b"7" and "label" not in doc and doc["title"] == "t" and doc["ts"] == 5.0
    key, _ = message_of({"text": "no id"}, with_labels=True)
    assert key is None
    key, value = message_of(Record("Great pan.", Label.POSITIVE, 12, "B0-12"), with_labels=False)
    assert key == b"B0-12" and json.loads(value)["id"] == "B0-12"


@pytest.mark.parametrize(
    "spelling, label", [("neg", "negative"), ("POS", "positive"), (1.0, "negative"), ("0.0", "positive")]
)
def test_every_label_spelling_training_reads_reaches_the_consumer(spelling, label):
    key, value = message_of({"text": "Awful.", "id": 7, "label": spelling}, with_labels=True)
    review = decode_review(key, value, Source("reviews", 0, 0))
    assert isinstance(review, Review), review
    assert json.loads(value)["label"] == label and review.true_label == label and review.warnings == ()
