"""common.readers: the readers on the real shared data and on small malformed files."""

from __future__ import annotations

import bz2
import io
import json
import sys
from pathlib import Path

import pytest

from common.labels import Label
from common.readers import ErrorCounter, MalformedInput, Record, StarRule, Tolerance, read_records

TRAIN = Path("amazon_polarity/train.sample.ft.txt.bz2")
OTHER = Path("amazon_other/star_polarity.ft.txt.bz2")
N, P = Label.NEGATIVE, Label.POSITIVE


def test_reads_the_kaggle_train_sample_with_provenance_counts(review_data: Path) -> None:
    errors = ErrorCounter()
    records = list(read_records(review_data / TRAIN, errors=errors))
    assert len(records) == 13_290
    assert sum(r.label is N for r in records) == 6_625  # negatives per PROVENANCE.md
    assert errors.malformed == 0 and errors.seen == 13_290
    assert [r.line for r in records[:3]] == [1, 2, 3]
    with bz2.open(review_data / TRAIN, "rt", encoding="utf-8") as train:
        raw = train.readline()
    assert raw.startswith("__label__2 ") and records[0] == Record(raw[len("__label__2 ") :].rstrip("\n"), P, 1)


def test_other_corpora_labels_match_provenance(review_data: Path) -> None:
    labels = [r.label for r in read_records(review_data / OTHER)]
    assert (labels.count(N), labels.count(P)) == (11_354, 19_667)


def test_limit_stops_early(review_data: Path) -> None:
    assert len(list(read_records(review_data / TRAIN, limit=25))) == 25


def test_plain_and_bz2_fasttext_read_the_same(tmp_path: Path) -> None:
    body = "__label__1 Bad: broke in a day\n__label__2 Good: works\n"
    (tmp_path / "a.txt").write_text(body, encoding="utf-8")
    (tmp_path / "a.txt.bz2").write_bytes(bz2.compress(body.encode()))
    plain = list(read_records(tmp_path / "a.txt"))
    assert plain == list(read_records(tmp_path / "a.txt.bz2"))
    assert plain == [Record("Bad: broke in a day", N, 1), Record("Good: works", P, 2)]


def test_published_csv_convention_and_multiline_rows(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text('text,label\n"Awful, really",1\n"Great\nsecond line",0\n', encoding="utf-8")
    assert list(read_records(path)) == [Record("Awful, really", N, 2), Record("Great\nsecond line", P, 3)]


def test_csv_and_jsonl_with_chosen_columns_and_without_labels(tmp_path: Path) -> None:
    csv_path = tmp_path / "r.csv"
    csv_path.write_text("id,review,sentiment\n7,meh,negative\n8,love it,positive\n", encoding="utf-8")
    assert [(r.text, r.label) for r in read_records(csv_path, text_column="review", label_column="sentiment")] == [
        ("meh", N),
        ("love it", P),
    ]
    assert [r.label for r in read_records(csv_path, text_column="review", label_column=None)] == [None, None]
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text(
        json.dumps({"body": "fine", "y": 0}) + "\n" + json.dumps({"body": "no label"}) + "\n", encoding="utf-8"
    )
    assert [(r.text, r.label) for r in read_records(jsonl, text_column="body", label_column="y")] == [
        ("fine", P),
        ("no label", None),
    ]


def test_csv_and_jsonl_id_columns_give_each_record_its_id(tmp_path: Path) -> None:
    csv_path = tmp_path / "r.csv"
    csv_path.write_text("review_id,text,label\nB00-7,meh,1\n 42 ,love it,0\n", encoding="utf-8")
    assert list(read_records(csv_path, id_column="review_id")) == [
        Record("meh", N, 2, "B00-7"),
        Record("love it", P, 3, "42"),
    ]
    assert [r.id for r in read_records(csv_path)] == [None, None]
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text(
        json.dumps({"text": "fine", "id": "a1"}) + "\n" + json.dumps({"text": "ok", "id": 7}) + "\n", encoding="utf-8"
    )
    assert [(r.text, r.id) for r in read_records(jsonl, id_column="id")] == [("fine", "a1"), ("ok", "7")]


def test_a_csv_header_without_the_id_column_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("text,label\nx,1\n", encoding="utf-8")
    with pytest.raises(MalformedInput, match=r"no column 'review_id'; columns are \['text', 'label'\]"):
        list(read_records(path, id_column="review_id"))


def test_rows_without_a_usable_id_are_malformed(tmp_path: Path) -> None:
    csv_path = tmp_path / "r.csv"
    csv_path.write_text("id,text\n1,ok\n,no id\n  ,blank id\n4,also ok\n", encoding="utf-8")
    errors = ErrorCounter(max_fraction=1.0)
    assert [r.id for r in read_records(csv_path, id_column="id", errors=errors)] == ["1", "4"]
    assert [(line, reason) for _, line, reason in errors.examples] == [(3, "no id in 'id'"), (4, "no id in 'id'")]
    jsonl = tmp_path / "r.jsonl"
    rows = [{"text": "ok", "id": 1}, {"text": "missing"}, {"text": "float", "id": 1.5}, {"text": "bool", "id": True}]
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    errors = ErrorCounter(max_fraction=1.0)
    assert [r.id for r in read_records(jsonl, id_column="id", errors=errors)] == ["1"]
    assert [line for _, line, _ in errors.examples] == [2, 3, 4]
    assert errors.examples[0][2] == "no id in 'id'"


def test_an_id_column_on_fasttext_input_is_an_argument_error(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("__label__1 Bad: broke\n", encoding="utf-8")
    with pytest.raises(ValueError, match="needs CSV or JSONL input, not fasttext") as caught:
        list(read_records(path, id_column="id"))
    assert not isinstance(caught.value, MalformedInput)


def test_auto_detects_format_from_first_line_on_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"__label__2 Nice: yes\n")))
    assert list(read_records("-")) == [Record("Nice: yes", P, 1)]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"just a review\n\nanother\n")))
    assert [(r.text, r.label, r.line) for r in read_records("-")] == [("just a review", None, 1), ("another", None, 3)]


def test_malformed_lines_are_counted_with_line_numbers_and_reasons(tmp_path: Path) -> None:
    good = [f"__label__{1 + i % 2} review number {i}" for i in range(200)]
    bad = [b"no label here", b"__label__3 odd", b"__label__1 ", b"__label__2 caf\xe9"]  # the last is Latin-1
    path = tmp_path / "mixed.txt"
    path.write_bytes(b"\n".join([g.encode() for g in good[:10]] + bad + [g.encode() for g in good[10:]]) + b"\n")
    errors = ErrorCounter(max_fraction=0.05)
    assert len(list(read_records(path, errors=errors))) == 200
    assert errors.malformed == 4 and errors.seen == 204
    assert [(line, reason.split(" ")[0]) for _, line, reason in errors.examples] == [
        (11, "no"),
        (12, "unknown"),
        (13, "empty"),
        (14, "not"),
    ]
    assert "UTF-8" in errors.examples[3][2]


def test_too_many_malformed_lines_raise_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("".join("__label__1 fine\n" if i % 10 else "garbage\n" for i in range(1, 3001)), encoding="utf-8")
    errors = ErrorCounter(min_lines=1000)
    with pytest.raises(MalformedInput, match=r"line 10: no __label__ prefix") as caught:
        for _ in read_records(path, errors=errors):
            pass
    assert "1.00%" in str(caught.value)
    assert errors.seen == 1000  # stopped at the first check, not at the end of the file


def test_small_file_over_threshold_fails_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "small.txt"
    path.write_text("__label__1 ok\n__label__2 fine\nbroken\n", encoding="utf-8")
    with pytest.raises(MalformedInput, match="line 3"):
        list(read_records(path))
    assert len(list(read_records(path, errors=ErrorCounter(max_fraction=0.5)))) == 2


def test_a_wrong_csv_header_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("review,label\nx,1\n", encoding="utf-8")
    with pytest.raises(MalformedInput, match="no column 'text'"):
        list(read_records(path))


def test_csv_rows_with_bad_labels_or_field_counts_are_malformed(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("text,label\nok,1\nbad label,7\ntoo,many,fields\n,0\n", encoding="utf-8")
    errors = ErrorCounter(max_fraction=1.0)
    assert [r.text for r in read_records(path, errors=errors)] == ["ok"]
    assert [line for _, line, _ in errors.examples] == [3, 4, 5]


# --- real-world files: star ratings, titles, delimiters, encodings ------------------------


def test_amazon_star_ratings_follow_the_kaggle_rule_and_threes_are_dropped_not_malformed(tmp_path: Path) -> None:
    kaggle = {1: N, 2: N, 4: P, 5: P}  # the rule the Kaggle polarity set was made by; 3 stars are left out
    ratings = [5.0, 1.0, 3.0, 4.0, 2.0, 3.0]
    path = tmp_path / "amazon2018.jsonl"
    path.write_text(
        "".join(
            json.dumps({"reviewText": f"review {i}", "summary": f"title {i}", "overall": stars}) + "\n"
            for i, stars in enumerate(ratings)
        ),
        encoding="utf-8",
    )
    errors = ErrorCounter(max_fraction=0.0)
    records = list(
        read_records(path, text_column="reviewText", label_column="overall", stars=StarRule(), errors=errors)
    )
    assert [(r.text, r.label) for r in records] == [
        (f"review {i}", kaggle[int(stars)]) for i, stars in enumerate(ratings) if stars != 3
    ]
    assert (errors.malformed, sum(errors.dropped.values())) == (0, 2)
    assert list(errors.dropped) == ["rated 3 (--stars 1-2:4-5: neither negative nor positive)"]


def test_a_custom_star_rule_and_star_values_that_are_not_ratings(tmp_path: Path) -> None:
    path = tmp_path / "amazon2023.csv"
    path.write_text("rating,text\n3,meh\n4,good\n6,what\nfive,words\n", encoding="utf-8")
    errors = ErrorCounter(max_fraction=1.0)
    rule = StarRule.parse("1-3:4-5")
    assert [(r.text, r.label) for r in read_records(path, label_column="rating", stars=rule, errors=errors)] == [
        ("meh", N),
        ("good", P),
    ]
    assert [reason for _, _, reason in errors.examples] == [
        "label '6' is not a star rating from 1 to 5",
        "label 'five' is not a star rating from 1 to 5",
    ]
    assert str(rule) == "1-3:4-5" and str(StarRule.parse("1:5")) == "1:5"
    for bad in ("1-2", "2-4:3-5", "0-1:4-5", "kaggle"):
        with pytest.raises(ValueError):
            StarRule.parse(bad)


def test_a_title_column_rebuilds_the_kaggle_title_colon_body_text(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("title,text\nGreat blender,Crushes ice.\n,No title here.\n", encoding="utf-8")
    assert [r.text for r in read_records(path, title_column="title")] == [
        "Great blender: Crushes ice.",
        "No title here.",
    ]
    with pytest.raises(MalformedInput, match="no column 'summary'"):
        list(read_records(path, title_column="summary"))


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_the_csv_delimiter_is_guessed_from_the_header(tmp_path: Path, delimiter: str) -> None:
    path = tmp_path / "r.csv"
    path.write_text(
        delimiter.join(["id", "text", "label"]) + "\n" + delimiter.join(["7", "Bad, really bad", "1"]) + "\n",
        encoding="utf-8",
    )
    assert list(read_records(path, id_column="id")) == [Record("Bad, really bad", N, 2, "7")]


def test_an_explicit_delimiter_wins_and_a_missing_column_names_the_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("id;text;label\n7;fine;0\n", encoding="utf-8")
    with pytest.raises(
        MalformedInput, match=r"columns are \['id;text;label'\] \(split on ','; --delimiter sets another\)"
    ):
        list(read_records(path, delimiter=","))
    with pytest.raises(MalformedInput, match=r"no column 'body'; columns are \['id', 'text', 'label'\] \(split on ';'"):
        list(read_records(path, text_column="body"))


def test_a_latin1_file_names_the_encoding_option_and_reads_with_it(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\nok,0\nCaf\u00e9 was cold,1\nfine,0\n".encode("latin-1"))
    with pytest.raises(MalformedInput, match=r"line 3: not valid UTF-8 .*--encoding cp1252"):
        list(read_records(path))
    assert [r.text for r in read_records(path, encoding="cp1252")] == ["ok", "Caf\u00e9 was cold", "fine"]
    with pytest.raises(ValueError, match="unknown encoding"):
        list(read_records(path, encoding="klingon"))
    with pytest.raises(ValueError, match="not ASCII-compatible"):
        list(read_records(path, encoding="utf-16"))


def test_a_utf8_bom_is_accepted_in_csv_and_jsonl(tmp_path: Path) -> None:
    csv_path = tmp_path / "bom.csv"
    csv_path.write_bytes(b"\xef\xbb\xbftext;label\nfine;0\n")
    jsonl = tmp_path / "bom.jsonl"
    jsonl.write_bytes(b"\xef\xbb\xbf" + json.dumps({"text": "good", "label": 0}).encode() + b"\n")
    assert [(r.text, r.label) for r in [*read_records(csv_path), *read_records(jsonl)]] == [("fine", P), ("good", P)]


def test_a_plain_txt_file_read_as_fasttext_suggests_format_text(tmp_path: Path) -> None:
    path = tmp_path / "reviews.txt"
    path.write_text("Loved it.\nBroke at once.\nFine.\n", encoding="utf-8")
    with pytest.raises(MalformedInput, match="3 of 3 lines are malformed.*use --format text"):
        list(read_records(path))
    assert [r.text for r in read_records(path, fmt="text")] == ["Loved it.", "Broke at once.", "Fine."]


def test_empty_labels_are_kept_as_unlabelled_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "partial.csv"
    path.write_text("text,label\na,1\nb,\nc,0\nd, \n", encoding="utf-8")
    errors = ErrorCounter(max_fraction=0.0)
    assert [(r.text, r.label) for r in read_records(path, keep_unlabelled=True, errors=errors)] == [
        ("a", N),
        ("b", None),
        ("c", P),
        ("d", None),
    ]
    assert (errors.unlabelled, errors.malformed) == (2, 0)
    errors = ErrorCounter(max_fraction=1.0)
    assert [r.text for r in read_records(path, errors=errors)] == ["a", "c"]
    assert [line for _, line, _ in errors.examples] == [3, 5]
    jsonl = tmp_path / "partial.jsonl"
    jsonl.write_text(
        "".join(
            json.dumps(row) + "\n" for row in [{"text": "a", "label": 1}, {"text": "b"}, {"text": "c", "label": None}]
        ),
        encoding="utf-8",
    )
    errors = ErrorCounter(max_fraction=0.0)
    assert [(r.text, r.label) for r in read_records(jsonl, keep_unlabelled=True, errors=errors)] == [
        ("a", N),
        ("b", None),
        ("c", None),
    ]
    assert errors.unlabelled == 2


def test_a_stray_quote_is_reported_with_the_lines_it_joined(tmp_path: Path) -> None:
    path = tmp_path / "quote.csv"
    path.write_text('text,label\nok,0\n"broken,1\nnext review,0\nlast,1\n', encoding="utf-8")
    errors = ErrorCounter(max_fraction=1.0)
    list(read_records(path, errors=errors))
    assert errors.examples and errors.examples[0][1] == 3 and "lines 3-5" in errors.examples[0][2]


@pytest.mark.parametrize(
    "text, fraction, count",
    [("1%", 0.01, None), ("0.02", 0.02, None), ("2.5%", 0.025, None), ("0", 0.01, 0), ("25", 0.01, 25)],
)
def test_tolerance_is_a_share_or_a_count(text: str, fraction: float, count: int | None) -> None:
    tolerance = Tolerance.parse(text)
    assert (tolerance.fraction, tolerance.count) == (pytest.approx(fraction), count)


@pytest.mark.parametrize("text", ["-1", "150%", "1.5", "some", ""])
def test_bad_tolerances_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Tolerance.parse(text)


def test_a_count_tolerance_of_zero_stops_at_the_first_malformed_line(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    path.write_text("".join("__label__1 ok\n" if i != 1500 else "broken\n" for i in range(1, 3001)), encoding="utf-8")
    errors = Tolerance(count=0).counter()
    read = 0
    with pytest.raises(MalformedInput, match="1 malformed line, more than the 0 tolerated; first: .* line 1500"):
        for _ in read_records(path, errors=errors):
            read += 1
    assert read == 1499
