"""``sentiment-producer`` as a user runs it: files of every format, stdin, --text, and clear failures."""

from __future__ import annotations

import json
import socket

import pytest

from model.data import read_records
from tests.conftest import TRAIN_SAMPLE

pytestmark = pytest.mark.integration


def test_kaggle_file_with_labels_arrives_exactly(make_topic, run_producer, read_back, review_data):
    topic = make_topic("cli-kaggle", partitions=2)
    result = run_producer(str(TRAIN_SAMPLE), "--with-labels", "--limit", "1500", "--input-topic", topic)
    assert result.returncode == 0, result.stderr
    assert "sent 1500, failed 0" in result.stdout
    expected = {str(r.line): r for r in read_records(TRAIN_SAMPLE, limit=1500)}
    docs = {doc["id"]: doc for _, doc in read_back(topic, 1500)}
    assert docs.keys() == expected.keys()
    assert all(docs[i]["text"] == r.text and docs[i]["label"] == ("negative" if r.label else "positive")
               for i, r in expected.items())


def test_csv_columns_stdin_and_text(tmp_path, make_topic, run_producer, read_back):
    topic = make_topic("cli-formats", partitions=1)
    csv_file = tmp_path / "reviews.csv"
    csv_file.write_text('stars,body\n1,"Broke in a day, avoid."\n0,"Lovely, ""sharp"" knife"\n')
    result = run_producer(str(csv_file), "--text-column", "body", "--label-column", "stars", "--with-labels",
                          "--id-prefix", "csv-", "--input-topic", topic)
    assert result.returncode == 0, result.stderr
    jsonl = '{"review": "Works great."}\n{"review": "Meh."}\n'
    result = run_producer("-", "--format", "jsonl", "--text-column", "review", "--id-prefix", "in-",
                          "--input-topic", topic, stdin=jsonl)
    assert result.returncode == 0, result.stderr
    result = run_producer("--text", "Five stars.", "--id-prefix", "t-", "--input-topic", topic)
    assert result.returncode == 0, result.stderr
    docs = {doc["id"]: doc for _, doc in read_back(topic, 5)}
    assert {i: (d["text"], d.get("label")) for i, d in docs.items()} == {
        "csv-2": ("Broke in a day, avoid.", "negative"),
        "csv-3": ('Lovely, "sharp" knife', "positive"),
        "in-1": ("Works great.", None),
        "in-2": ("Meh.", None),
        "t-1": ("Five stars.", None),
    }


def test_id_column_keys_each_review_by_its_id(tmp_path, make_topic, run_producer, read_back):
    topic = make_topic("cli-ids", partitions=2)
    csv_file = tmp_path / "reviews.csv"
    csv_file.write_text("id,text\nR-17,Broke in a day.\nR-3,Lovely knife.\nR-99,Fine.\n")
    result = run_producer(str(csv_file), "--id-column", "id", "--input-topic", topic)
    assert result.returncode == 0, result.stderr
    messages = read_back(topic, 3)
    assert sorted((key, doc["id"], doc["text"]) for key, doc in messages) == [
        (b"R-17", "R-17", "Broke in a day."), (b"R-3", "R-3", "Lovely knife."), (b"R-99", "R-99", "Fine.")]


def test_id_column_on_fasttext_input_fails_with_exit_2(tmp_path, run_producer):
    source = tmp_path / "few.ft.txt"
    source.write_text("__label__1 Bad: broke\n")
    result = run_producer(str(source), "--id-column", "id", "--input-topic", "unused")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {source}: an id column ('id') needs CSV or JSONL input, not fasttext"]


def test_loop_shuffle_and_limit_send_unique_ids(tmp_path, make_topic, run_producer, read_back):
    topic = make_topic("cli-loop", partitions=1)
    source = tmp_path / "few.ft.txt"
    source.write_text("".join(f"__label__{1 + i % 2} review {i}\n" for i in range(10)))
    result = run_producer(str(source), "--loop", "--shuffle", "--shuffle-buffer", "8", "--seed", "4",
                          "--limit", "35", "--input-topic", topic)
    assert result.returncode == 0, result.stderr
    ids = [doc["id"] for _, doc in read_back(topic, 35)]
    assert len(ids) == len(set(ids)) == 35
    assert {i.split(":")[0] for i in ids} <= {"1", "2", "3", "4", "5"}
    assert ids != sorted(ids, key=lambda i: tuple(map(int, i.split(":"))))


def test_missing_file_fails_with_exit_2(run_producer):
    result = run_producer("/no/such/reviews.ft.txt")
    assert result.returncode == 2
    assert "error: no such data file: /no/such/reviews.ft.txt" in result.stderr


def test_missing_column_fails_before_sending(tmp_path, make_topic, run_producer, read_back):
    topic = make_topic("cli-column", partitions=1)
    csv_file = tmp_path / "reviews.csv"
    csv_file.write_text("title,body\nx,y\n")
    result = run_producer(str(csv_file), "--text-column", "review", "--input-topic", topic)
    assert result.returncode == 1
    assert "no column 'review'" in result.stderr
    assert read_back(topic, 0, timeout=3) == []


def test_malformed_file_fails_naming_lines(tmp_path, run_producer):
    bad = tmp_path / "bad.ft.txt"
    bad.write_text("".join(f"not a fasttext line {i}\n" for i in range(20)))
    result = run_producer(str(bad))
    assert result.returncode == 1
    assert "malformed" in result.stderr and "line 1" in result.stderr


def test_unreachable_broker_fails_fast_with_a_clear_message(run_producer):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    result = run_producer("--text", "hello", "--bootstrap-servers", f"127.0.0.1:{port}", "--connect-timeout", "2",
                          timeout=60)
    assert result.returncode == 1
    assert f"cannot reach the Kafka broker at 127.0.0.1:{port} within 2 s" in result.stderr


def test_missing_topic_fails_with_a_hint(run_producer):
    result = run_producer("--text", "hello", "--input-topic", "no-such-topic-cli")
    assert result.returncode == 1
    assert "topic 'no-such-topic-cli' does not exist" in result.stderr and "create-topics" in result.stderr


@pytest.mark.parametrize("argv", [[], ["x.txt", "--text", "y"], ["-", "--loop"], ["--text", "y", "--rate", "-1"],
                                  ["--text", "y", "--id-column", "id"]])
def test_bad_invocations_are_usage_errors(run_producer, argv):
    result = run_producer(*argv)
    assert result.returncode == 2
    assert "usage: sentiment-producer" in result.stderr


def test_summary_is_json_logged_too(make_topic, run_producer):
    topic = make_topic("cli-log", partitions=1)
    result = run_producer("--text", "fine", "--input-topic", topic)
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any(line["msg"] == "send finished" and line["sent"] == 1 for line in lines)
