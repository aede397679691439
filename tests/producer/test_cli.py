"""``sentiment-producer`` as a user runs it: files of every format, stdin, --text, and clear failures."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys

import pytest

from common.readers import read_records
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
    assert all(
        docs[i]["text"] == r.text and docs[i]["label"] == (r.label and r.label.value) for i, r in expected.items()
    )


def test_csv_columns_stdin_and_text(tmp_path, make_topic, run_producer, read_back):
    topic = make_topic("cli-formats", partitions=1)
    csv_file = tmp_path / "reviews.csv"
    csv_file.write_text('stars,body\n1,"Broke in a day, avoid."\n0,"Lovely, ""sharp"" knife"\n')
    result = run_producer(
        str(csv_file),
        "--text-column",
        "body",
        "--label-column",
        "stars",
        "--with-labels",
        "--id-prefix",
        "csv-",
        "--input-topic",
        topic,
    )
    assert result.returncode == 0, result.stderr
    jsonl = '{"review": "Works great."}\n{"review": "Meh."}\n'
    result = run_producer(
        "-", "--format", "jsonl", "--text-column", "review", "--id-prefix", "in-", "--input-topic", topic, stdin=jsonl
    )
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
        (b"R-17", "R-17", "Broke in a day."),
        (b"R-3", "R-3", "Lovely knife."),
        (b"R-99", "R-99", "Fine."),
    ]


def test_id_column_on_fasttext_input_fails_with_exit_2(tmp_path, run_producer):
    source = tmp_path / "few.ft.txt"
    source.write_text("__label__1 Bad: broke\n")
    result = run_producer(str(source), "--id-column", "id", "--input-topic", "unused")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {source}: an id column ('id') needs CSV or JSONL input, not fasttext"
    ]


def test_loop_shuffle_and_limit_send_unique_ids(tmp_path, make_topic, run_producer, read_back):
    topic = make_topic("cli-loop", partitions=1)
    source = tmp_path / "few.ft.txt"
    source.write_text("".join(f"__label__{1 + i % 2} review {i}\n" for i in range(10)))
    result = run_producer(
        str(source),
        "--loop",
        "--shuffle",
        "--shuffle-buffer",
        "8",
        "--seed",
        "4",
        "--limit",
        "35",
        "--input-topic",
        topic,
    )
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
    result = run_producer(
        "--text", "hello", "--bootstrap-servers", f"127.0.0.1:{port}", "--connect-timeout", "2", timeout=60
    )
    assert result.returncode == 1
    assert f"cannot reach the Kafka broker at 127.0.0.1:{port} within 2 s" in result.stderr


def test_missing_topic_fails_with_a_hint(run_producer):
    result = run_producer("--text", "hello", "--input-topic", "no-such-topic-cli")
    assert result.returncode == 1
    assert "topic 'no-such-topic-cli' does not exist" in result.stderr and "create-topics" in result.stderr


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["x.txt", "--text", "y"],
        ["-", "--loop"],
        ["--text", "y", "--rate", "-1"],
        ["--text", "y", "--id-column", "id"],
    ],
)
def test_bad_invocations_are_usage_errors(run_producer, argv):
    result = run_producer(*argv)
    assert result.returncode == 2
    assert "usage: sentiment-producer" in result.stderr


def test_summary_is_json_logged_too(make_topic, run_producer):
    topic = make_topic("cli-log", partitions=1)
    result = run_producer("--text", "fine", "--input-topic", topic)
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any(line["msg"] == "send finished" and line["sent"] == 1 for line in lines)


# --- real-world files: nothing half-sent, nothing lost without a word ---------------


def _write(path, text: str, encoding: str = "utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_a_file_over_the_malformed_tolerance_sends_nothing_and_names_the_encoding(
    tmp_path, make_topic, run_producer, read_back
):
    topic = make_topic("cli-latin1", partitions=1)
    latin1 = _write(tmp_path / "latin1.csv", "text,label\nok,0\nCaf\u00e9 was cold,1\nfine,0\nlast,1\n", "latin-1")
    result = run_producer(str(latin1), "--input-topic", topic)
    assert result.returncode == 1
    assert "line 3: not valid UTF-8" in result.stderr and "--encoding cp1252" in result.stderr
    assert "nothing was sent" in result.stderr
    assert read_back(topic, 0, timeout=3) == []
    result = run_producer(str(latin1), "--encoding", "cp1252", "--input-topic", topic)
    assert result.returncode == 0, result.stderr
    assert sorted(doc["text"] for _, doc in read_back(topic, 4)) == sorted(["ok", "Caf\u00e9 was cold", "fine", "last"])


def test_dry_run_checks_and_counts_without_sending(tmp_path, make_topic, run_producer, read_back):
    topic = make_topic("cli-dry", partitions=1)
    lines = [f"__label__{1 + i % 2} review {i}" for i in range(30)] + ["__label__3 neutral"]
    source = _write(tmp_path / "r.ft.txt", "\n".join(lines) + "\n")
    result = run_producer(str(source), "--dry-run", "--max-malformed", "5%", "--input-topic", topic)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "dry run: 30 reviews to send, nothing sent"
    assert "line 31: unknown label '__label__3'" in result.stdout
    result = run_producer(str(source), "--dry-run", "--max-malformed", "0", "--input-topic", topic)
    assert result.returncode == 1 and "1 malformed line, more than the 0 tolerated" in result.stderr
    assert read_back(topic, 0, timeout=3) == []


def test_lines_skipped_under_the_tolerance_are_counted_with_their_line_numbers(
    tmp_path, make_topic, run_producer, read_back
):
    topic = make_topic("cli-skipped", partitions=1)
    lines = [f"__label__{1 + i % 2} review {i}" for i in range(200)]
    lines.insert(57, "__label__3 neither")
    source = _write(tmp_path / "r.ft.txt", "\n".join(lines) + "\n")
    result = run_producer(str(source), "--input-topic", topic)
    assert result.returncode == 0, result.stderr
    assert "sent 200, failed 0" in result.stdout
    assert "skipped 1 malformed line (not sent), first: " in result.stdout and "line 58: unknown label" in result.stdout
    quoted = _write(tmp_path / "quote.csv", 'text,label\nok,0\n"broken,1\nnext review,0\nlast,1\n')
    result = run_producer(str(quoted), "--max-malformed", "1", "--input-topic", topic)
    assert result.returncode == 0, result.stderr
    assert "sent 1, failed 0" in result.stdout and "one row over lines 3-5" in result.stdout


def test_a_stream_stopped_by_malformed_lines_says_what_was_delivered(make_topic, run_producer, read_back):
    topic = make_topic("cli-stdin-stop", partitions=1)
    good = [f"__label__1 good review {i}" for i in range(50)]
    result = run_producer(
        "-",
        "--format",
        "fasttext",
        "--max-malformed",
        "0",
        "--input-topic",
        topic,
        stdin="\n".join(good + ["garbage", "__label__2 never sent"]) + "\n",
    )
    assert result.returncode == 1
    assert "sent 50, failed 0" in result.stdout
    assert "reading stopped after line 50: the 50 reviews read up to there were delivered" in result.stderr
    assert sorted(int(doc["id"]) for _, doc in read_back(topic, 50)) == list(range(1, 51))


def test_labels_are_not_read_unless_sent_and_an_empty_one_drops_the_label_not_the_review(
    tmp_path, make_topic, run_producer, read_back
):
    rows = [(f"review {i}", "" if i % 3 == 0 else str(i % 2)) for i in range(100)]
    source = _write(tmp_path / "partial.csv", "text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows))
    unlabelled = sum(1 for _, lab in rows if lab == "")
    topic = make_topic("cli-nolabels", partitions=1)
    result = run_producer(str(source), "--input-topic", topic)
    assert result.returncode == 0, result.stderr
    assert "sent 100, failed 0" in result.stdout and "label" not in result.stdout
    topic = make_topic("cli-partial-labels", partitions=1)
    result = run_producer(str(source), "--with-labels", "--input-topic", topic)
    assert result.returncode == 0, result.stderr
    assert f"{unlabelled} reviews had no label: read without one" in result.stdout
    docs = {doc["text"]: doc.get("label") for _, doc in read_back(topic, 100)}
    assert docs == {t: None if lab == "" else ("negative" if lab == "1" else "positive") for t, lab in rows}


def test_an_oversized_review_fails_alone_with_its_line_and_the_limit(tmp_path, make_topic, run_producer, read_back):
    topic = make_topic("cli-oversized", partitions=1)
    source = _write(tmp_path / "big.csv", "id,text\na,small one\nb," + "x" * 1_200_000 + "\nc,small two\n")
    result = run_producer(str(source), "--id-column", "id", "--input-topic", topic)
    assert result.returncode == 1
    assert "sent 2, failed 1" in result.stdout
    assert "review b (line 3): 1,200,0" in result.stderr and "limit of 1,000,000 (message.max.bytes)" in result.stderr
    assert sorted(doc["id"] for _, doc in read_back(topic, 2)) == ["a", "c"]


def test_amazon_star_ratings_and_titles_become_kaggle_style_reviews(
    tmp_path, make_topic, run_producer, read_back, monkeypatch
):
    kaggle = {1: "negative", 2: "negative", 4: "positive", 5: "positive"}  # 3 stars: left out
    ratings = [5.0, 1.0, 3.0, 4.0, 2.0, 3.0, 5.0]
    source = _write(
        tmp_path / "amazon2018.jsonl",
        "".join(
            json.dumps({"reviewText": f"body {i}", "summary": f"title {i}", "overall": stars}) + "\n"
            for i, stars in enumerate(ratings)
        ),
    )
    topic = make_topic("cli-stars", partitions=1)
    monkeypatch.setenv("SENTIMENT_TITLE_COLUMN", "summary")
    result = run_producer(
        str(source),
        "--text-column",
        "reviewText",
        "--label-column",
        "overall",
        "--stars",
        "--with-labels",
        "--input-topic",
        topic,
    )
    assert result.returncode == 0, result.stderr
    assert "dropped 2 reviews rated 3" in result.stdout
    expected = {f"title {i}: body {i}": kaggle[int(stars)] for i, stars in enumerate(ratings) if stars != 3}
    assert {doc["text"]: doc["label"] for _, doc in read_back(topic, len(expected))} == expected


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--max-malformed", "lots"], "--max-malformed='lots'"),
        (["--star-rule", "1-2"], "--star-rule='1-2'"),
        (["--delimiter", ";;"], "--delimiter=';;'"),
        (["--encoding", "klingon"], "--encoding='klingon'"),
    ],
)
def test_bad_reading_options_are_one_line_and_exit_2(tmp_path, run_producer, argv, named):
    source = _write(tmp_path / "r.csv", "text\nfine\n")
    result = run_producer(str(source), *argv)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"error: {named}: ") and len(result.stderr.strip().splitlines()) == 1


def test_ctrl_c_prints_the_summary_and_exits_130(tmp_path, kafka_bootstrap, make_topic, read_back):
    topic = make_topic("cli-sigint", partitions=1)
    source = _write(tmp_path / "r.ft.txt", "".join(f"__label__1 review {i}\n" for i in range(10)))
    env = {**os.environ, "SENTIMENT_BOOTSTRAP_SERVERS": kafka_bootstrap}
    with subprocess.Popen(
        [sys.executable, "-m", "producer", str(source), "--loop", "--rate", "20", "--input-topic", topic],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as producer:
        assert read_back(topic, 1, timeout=60), "nothing arrived"  # sending, so the signal handler is in place
        producer.send_signal(signal.SIGINT)
        out, err = producer.communicate(timeout=60)
    assert producer.returncode == 130, err
    assert re.match(r"sent \d+, failed 0", out), out


def test_a_missing_column_on_stdin_fails_before_sending(make_topic, run_producer, read_back):
    topic = make_topic("cli-stdin-column", partitions=1)
    result = run_producer(
        "-",
        "--format",
        "csv",
        "--text-column",
        "review",
        "--shuffle",
        "--input-topic",
        topic,
        stdin="title,body\nx,y\n",
    )
    assert result.returncode == 1
    assert "no column 'review'" in result.stderr
    assert read_back(topic, 0, timeout=3) == []
