"""One review and CSV analysis: limits, clear messages, marked rows, formula-safe downloads."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from common import contract
from common.labels import Label
from dashboard import analysis
from dashboard.analysis import InputError, Limits


def table(data: bytes, limits: Limits = Limits(), name: str = "reviews.csv") -> pd.DataFrame:
    return analysis.read_table(data, name, limits)


# -- one review ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [None, "", "   \n\t"])
def test_empty_review_gets_a_clear_message(keyword_scorer, text):
    with pytest.raises(InputError, match="empty"):
        analysis.analyse_text(keyword_scorer, text)
    assert keyword_scorer.calls == []


def test_overlong_review_is_refused_before_the_model(keyword_scorer):
    with pytest.raises(InputError, match="longer than"):
        analysis.analyse_text(keyword_scorer, "a" * 2001, Limits(max_text_bytes=2000))
    assert keyword_scorer.calls == []


def test_one_review_returns_the_scorers_label_and_probability(keyword_scorer):
    assert analysis.analyse_text(keyword_scorer, "a bad toaster") == analysis.SingleResult(Label.NEGATIVE, 0.9)


def test_one_review_matches_the_default_model(default_predictor):
    text = "The battery died after two days and support never answered."
    [(label, p)] = default_predictor.predict([text])
    result = analysis.analyse_text(default_predictor, text)
    assert (result.label, result.p_negative) == (label, pytest.approx(p))
    assert result.explanation == default_predictor.explain(text), "the model explains the verdict it gave"


# Each case of the contract's rules (README, "Message contract") with the outcome both paths show: the review box
# refuses it with this message, a CSV marks its row with it.
UNJUDGED = {
    "!!!!": analysis.NO_WORDS,
    "....": analysis.NO_WORDS,
    "!!!???": analysis.NO_WORDS,
    "\x00\x00\x00": analysis.NO_WORDS,
    "\x01\x02\x1b": analysis.NO_WORDS,
    "😀👍🔥": analysis.NO_WORDS,
    "N/A": analysis.NO_WORDS,
    "4,5": analysis.NO_WORDS,
    "42": "not scored: a number, not text",
    "-1.5": "not scored: a number, not text",
    "true": "not scored: JSON true, not text",
    "null": "not scored: JSON null, not text",
    "[1, 2]": "not scored: a JSON array, not text",
}


@pytest.mark.parametrize("text", UNJUDGED)
def test_a_review_the_model_cannot_judge_gets_no_label(default_predictor, text):
    with pytest.raises(InputError) as refused:
        analysis.analyse_text(default_predictor, text)
    assert str(refused.value) == UNJUDGED[text]


def test_a_csv_marks_the_rows_the_model_cannot_judge_as_the_review_box_does(default_predictor):
    readable = ["Broke after a month.", "{sigh} another dud.", "[Update] works again"]
    frame = pd.DataFrame({"text": readable + list(UNJUDGED)})
    scored = analysis.score_table(default_predictor, frame, "text")
    assert scored.frame["status"].tolist() == [analysis.OK] * len(readable) + list(UNJUDGED.values())
    labels = scored.frame["predicted_label"]
    assert labels[: len(readable)].tolist() == [label for label, _ in default_predictor.predict(readable)]
    assert labels[len(readable) :].isna().all() and scored.frame["p_negative"][len(readable) :].isna().all()
    assert scored.counts()["not scored"] == len(UNJUDGED)


# -- the upload ---------------------------------------------------------------------------------


@given(
    st.one_of(
        st.text(max_size=60),
        st.sampled_from(
            [
                "42",
                " -1.5 ",
                "null",
                "[1]",
                '"quoted"',
                "   ",
                "x" * 61,
                "\u00e9" * 31,
                "{sigh} fine",
                "4,5",
                "\ufeff",
                "\ufeff ok",
            ]
        ),
    )
)
def test_a_cell_is_scored_exactly_when_the_stream_would_score_it_as_a_plain_message(text):
    limits = Limits(max_text_bytes=60)
    try:
        value = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no message can carry it, and no cell may be scored
        assert analysis.cell_status(text, limits) != analysis.OK
        return
    if value.lstrip(b" \t\r\n").startswith(b"{") or value.strip(b" \t\r\n").startswith(b'"'):
        return  # the stream reads these as a JSON object or string literal, which a CSV cell never is
    streamed = contract.decode_review(None, value, contract.Source("t", 0, 0), limits.max_text_bytes)
    assert (analysis.cell_status(text, limits) == analysis.OK) == isinstance(streamed, contract.Review)


def test_reads_text_as_text_with_quotes_and_commas():
    frame = table(b'text,stars\n"Great, really great",5\n"He said ""no""",1\n007,3\n')
    assert frame["text"].tolist() == ["Great, really great", 'He said "no"', "007"]
    assert frame["stars"].tolist() == ["5", "1", "3"]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_other_delimiters_are_recognised_from_the_header(delimiter):
    frame = table(f"id{delimiter}text\n1{delimiter}good, fine\n".encode())
    assert frame["text"].tolist() == ["good, fine"]


def test_utf8_bom_and_utf16_files_are_read():
    assert table("\ufefftext\ncafé\n".encode("utf-8"))["text"].tolist() == ["café"]
    assert table("text\nnaïve\n".encode("utf-16"))["text"].tolist() == ["naïve"]


WINDOWS_REVIEWS = [
    "Café crème brûlée, très bon – “quoted” €5",
    "Größe passt nicht, Qualität schlecht",
    "¡Qué decepción! El envío llegó tarde",
]


def test_windows_excel_csv_is_read_as_cp1252_and_says_so():
    """Excel on Windows saves "CSV (Comma delimited)" as Windows-1252, which once was refused as not UTF-8."""
    data = ("id,text\n" + "".join(f'{i},"{t}"\n' for i, t in enumerate(WINDOWS_REVIEWS))).encode("cp1252")
    assert analysis.detect_encoding(data, "excel.csv") == "cp1252"
    assert table(data)["text"].tolist() == WINDOWS_REVIEWS
    upload = analysis.open_upload(data, "excel.csv", None, Limits())
    assert (upload.encoding, upload.size) == ("cp1252", len(data))


def test_an_accent_far_down_a_large_file_still_decides_the_encoding():
    data = b"text\n" + b"plain ascii review and nothing else\n" * 200_000 + "one last café\n".encode("cp1252")
    assert analysis.detect_encoding(data, "big.csv") == "cp1252"
    assert table(data, Limits(max_bytes=len(data) + 1, max_rows=300_000))["text"].iloc[-1] == "one last café"


def test_utf8_wins_whenever_the_whole_file_is_utf8():
    data = ("text\n" + "a" * (5 * 1024 * 1024) + "é\n").encode("utf-8")  # the é straddles no slice: all of it is read
    assert analysis.detect_encoding(data, "f.csv") == "utf-8"
    split = ("text\n" + "a" * (4 * 1024 * 1024 - 6) + "é\n").encode(
        "utf-8"
    )  # é's two bytes on both sides of a 4 MiB slice
    assert analysis._undecodable_at(split, "utf-8") is None
    broken = split.replace("é".encode(), b"\xe9")
    assert analysis._undecodable_at(broken, "utf-8") == broken.index(b"\xe9")


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(range(256)) * 4


@pytest.mark.parametrize(
    "data, kind",
    [
        (PNG, "it is a PNG image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(300), "it is a JPEG image"),
        (b"%PDF-1.7\n" + bytes(range(256)), "it is a PDF document"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(300), "Excel 97-2003 workbook"),
        (b"text\nfine\x00\x01\x02binary\n", "holds binary data"),
    ],
)
def test_a_file_that_is_not_text_is_called_that(data, kind):
    with pytest.raises(InputError, match="not a text file") as refused:
        table(data, name="photo.csv")
    assert kind in str(refused.value) and "CSV UTF-8" not in str(refused.value)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "is empty"),
        (b"PK\x03\x04rest-of-a-zip", "Excel workbook"),
        (b"\x00\x01\x02text\x00", "not a text file"),
        (b"text\n", "no data rows"),
        (b'text\n"unterminated\n', "not a well-formed CSV"),
        (b"a,b\n1,2,3,4\n", "not a well-formed CSV"),
    ],
)
def test_files_that_are_not_usable_csv_get_clear_messages(data, message):
    with pytest.raises(InputError, match=message):
        table(data)


def test_row_limit():
    rows = b"text\n" + b"ok\n" * 11
    with pytest.raises(InputError, match="more than 10 rows"):
        table(rows, Limits(max_rows=10))
    with pytest.raises(InputError, match="more than 1 row;"):
        table(rows, Limits(max_rows=1))
    assert len(table(rows, Limits(max_rows=11))) == 11


@pytest.mark.parametrize(
    "data, line",
    [(b"a,b\n1,2,3,4\n", "line 2 has 4 fields, the header 2"), (b'a,b\n1,2\n"x\ny",2\n5,6\n', None)],
)
def test_a_row_with_more_fields_than_the_header_is_named_by_its_line(data, line):
    if line is None:  # a quoted line break: the record is on lines 3-4, and the file is fine
        assert table(data)["a"].tolist() == ["1", "x\ny", "5"]
        return
    with pytest.raises(InputError, match=line):
        table(data)


def test_counts_in_messages_are_grammatical():
    assert [analysis.plural(n, "row") for n in (0, 1, 2, 1500)] == ["0 rows", "1 row", "2 rows", "1,500 rows"]
    assert [analysis.human_size(n) for n in (1, 812)] == ["1 byte", "812 bytes"]


@pytest.mark.parametrize(
    "columns, last_choice, expected",
    [
        (["id", "text"], "Review Body", "text"),  # the file's own text column wins over an earlier pick
        (["Review Body", "id"], "Review Body", "Review Body"),
        (["Body", "id"], "Review Body", "text"),  # the earlier pick is not in this file: ask again
        (["text", "Review Body"], None, "text"),
    ],
)
def test_a_new_file_starts_from_its_own_columns(columns, last_choice, expected):
    assert analysis.default_column(columns, last_choice) == expected


def test_missing_column_lists_the_columns_there_are():
    frame = table(b"review,stars\nfine,5\n")
    with pytest.raises(InputError, match=r"no column 'text'.*'review', 'stars'"):
        analysis.check_column(frame, "text")
    assert analysis.check_column(frame, "review") == "review"


def test_rows_that_cannot_be_scored_are_marked_not_dropped(keyword_scorer):
    frame = table(b"text,n\nbad product,1\n,2\n   ,3\n42,4\nlovely,5\n")
    progress = []
    scored = analysis.score_table(
        keyword_scorer, frame, "text", progress=lambda done, total: progress.append((done, total)), chunk=1
    )
    out = scored.frame
    assert len(out) == 5
    assert out["n"].tolist() == ["1", "2", "3", "4", "5"]
    assert out["status"].tolist() == [
        analysis.OK,
        analysis.EMPTY,
        analysis.EMPTY,
        "not scored: a number, not text",
        analysis.OK,
    ]
    assert out["predicted_label"].tolist()[0] == "negative" and out["predicted_label"].tolist()[4] == "positive"
    assert out["predicted_label"].isna().tolist() == [False, True, True, True, False]
    assert scored.counts() == {"positive": 1, "negative": 1, "not scored": 3}
    assert progress == [(1, 2), (2, 2)]
    assert keyword_scorer.calls == [1, 1]


def test_added_columns_never_overwrite_the_users_own(keyword_scorer):
    frame = table(b"text,predicted_label,status\ngood,mine,also mine\n")
    scored = analysis.score_table(keyword_scorer, frame, "text")
    assert scored.frame["predicted_label"].tolist() == ["mine"]
    assert scored.frame["status"].tolist() == ["also mine"]
    assert scored.label_column == "predicted_label_model" and scored.status_column == "status_model"


# -- the download -------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\r=1"])
def test_formula_cells_are_prefixed_in_the_download(keyword_scorer, cell):
    frame = pd.DataFrame({"text": [cell, "plain words"], "=danger": ["x", "y"]})
    csv_text = analysis.to_safe_csv(analysis.score_table(keyword_scorer, frame, "text").frame, "text")
    back = pd.read_csv(io.StringIO(csv_text), dtype=str, keep_default_na=False)
    assert back["text"].tolist() == ["'" + cell, "plain words"]
    assert "'=danger" in back.columns
    assert back["p_negative"].tolist() == ["0.1", "0.1"]


@given(st.text())
def test_no_cell_of_the_download_can_start_a_formula(value):
    safe = str(analysis.spreadsheet_safe(value))
    assert not safe.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert safe in (value, "'" + value)


@given(st.one_of(st.text(), st.from_regex(r"[-+=@][0-9 .,()/%+eE\-a-z!|\"']{0,12}", fullmatch=True)))
def test_a_formula_start_is_left_only_on_a_number(value):
    """Outside the text column an unguarded formula start holds no letter (bar an exponent), quote or DDE mark."""
    if (
        value.startswith(("=", "+", "-", "@", "\t", "\r"))
        and analysis.spreadsheet_safe(value, keep_numbers=True) == value
    ):
        mantissa = re.sub(r"[eE][-+]?[0-9]+$", "", value)
        assert value[0] in "+-" and not any(c.isalpha() or c in "\"'!|:$&;=@" for c in mantissa)


def test_numbers_outside_the_text_column_stay_numbers_for_pandas(keyword_scorer):
    """A phone number or a negative amount is data, not a formula: prefixing it broke the file for pandas and R."""
    cells = ["-5", "+44 20 7946 0958", "-1,234.50", "-2.5e-3", "+1 (555) 010-9999", "-12%"]
    attacks = ["-2+3+cmd|' /C calc'!A0", '+HYPERLINK("http://x")', "=1", "@SUM(A1)", "-", "-A1"]
    frame = pd.DataFrame(
        {"text": ["-5", "good"] + ["fine"] * (len(cells) + len(attacks) - 2), "amount": cells + attacks}
    )
    back = pd.read_csv(
        io.StringIO(analysis.to_safe_csv(analysis.score_table(keyword_scorer, frame, "text").frame, "text")),
        dtype=str,
        keep_default_na=False,
    )
    assert back["amount"].tolist() == cells + ["'" + a for a in attacks]
    assert back["text"].tolist()[0] == "'-5", "the text column stays fully guarded"
    numbers = pd.read_csv(io.StringIO(analysis.to_safe_csv(frame.iloc[[0, 3]], "text")), usecols=["amount"])["amount"]
    assert numbers.tolist() == [-5.0, -0.0025], "pandas reads the numbers back as numbers"


def test_open_upload_checks_size_then_table_then_column():
    limits = Limits(max_bytes=100)
    with pytest.raises(analysis.UploadRefused, match=r"big\.csv is 101 bytes; the limit is 100 bytes") as refused:
        analysis.open_upload(b"x" * 101, "big.csv", "text", limits)
    assert refused.value.columns is None
    with pytest.raises(analysis.UploadRefused, match="not a text file") as refused:
        analysis.open_upload(PNG[:90], "x.csv", "text", limits)
    assert refused.value.columns is None
    data = b"id,review\n1,fine\n"
    with pytest.raises(analysis.UploadRefused, match="no column 'text'") as refused:
        analysis.open_upload(data, "r.csv", "text", limits)
    assert refused.value.columns == ["id", "review"], "the picker is filled with the file's columns"
    upload = analysis.open_upload(data, "r.csv", "review", limits)
    assert (upload.filename, upload.column, upload.frame["review"].tolist()) == ("r.csv", "review", ["fine"])


def test_a_picked_column_does_not_stick_to_the_next_file():
    """A regression: after picking 'Review Body' for one file, the next file (with a text column) was refused."""
    first = b"id,Review Body\n1,fine\n"
    with pytest.raises(analysis.UploadRefused, match="no column 'text'") as refused:
        analysis.open_upload(first, "a.csv", None, Limits())
    assert refused.value.columns == ["id", "Review Body"]
    assert analysis.open_upload(first, "a.csv", "Review Body", Limits()).column == "Review Body"
    second = b"text,stars\nbad,1\n"
    assert analysis.open_upload(second, "b.csv", None, Limits(), last_choice="Review Body").column == "text"
    third = b"Review Body,stars\ngood,5\n"
    assert analysis.open_upload(third, "c.csv", None, Limits(), last_choice="Review Body").column == "Review Body"


def test_reading_an_upload_holds_few_copies_of_it():
    """Beyond the table itself, reading an upload holds at most 1.5
    times the file (decoding and parsing held 4.7 times).
    """
    import tracemalloc

    line = "Très bon produit; the battery lasts for days and the sound is clear; recommandé ✓\n"
    data = ("id,text\n" + "".join(f"{i},{line}" for i in range(60_000))).encode("utf-8")
    limits = Limits(max_bytes=len(data) + 1, max_rows=100_000)
    tracemalloc.start()
    try:
        upload = analysis.open_upload(data, "m.csv", None, limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(upload.frame) == 60_000
    table_bytes = upload.frame.memory_usage(deep=True).sum()  # Python strings: 2 bytes a character here (the ✓)
    assert peak - table_bytes < 1.5 * len(data), f"{(peak - table_bytes) / len(data):.1f}x the file beyond the table"


def test_a_csv_with_explanations_names_each_verdicts_strongest_words(default_predictor):
    texts = ["The product is terrible and broke in a day", "Lovely kettle, works great and looks smart", "!!!!"]
    scored = analysis.score_table(default_predictor, pd.DataFrame({"text": texts}), "text", explain=True)
    negative, positive = scored.frame[analysis.NEGATIVE_WORDS_COLUMN], scored.frame[analysis.POSITIVE_WORDS_COLUMN]
    for row, text in enumerate(texts[:2]):
        alone = default_predictor.explain(text, top=analysis.EXPLAINED_WORDS)  # one text, one call: not the CSV's batch
        assert [part.split(" (")[0] for part in negative[row].split("; ")] == [w.text for w in alone.top_negative]
        assert [part.split(" (")[0] for part in positive[row].split("; ")] == [w.text for w in alone.top_positive]
    assert negative[0].startswith(("terrible (+", "broke (+"))
    assert pd.isna(negative[2]) and scored.frame["status"][2] == analysis.NO_WORDS
    plain = analysis.score_table(default_predictor, pd.DataFrame({"text": texts}), "text")
    assert analysis.NEGATIVE_WORDS_COLUMN not in plain.frame.columns, "explanations only when asked"
