"""One review and CSV analysis: limits, clear messages, marked rows, formula-safe downloads."""

from __future__ import annotations

import base64
import io
import re

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard import analysis
from dashboard.analysis import InputError, Limits


def data_url(data: bytes) -> str:
    return "data:text/csv;base64," + base64.b64encode(data).decode()


def table(data: bytes, limits: Limits = Limits(), name: str = "reviews.csv") -> pd.DataFrame:
    return analysis.read_table(analysis.decode_upload(data_url(data), name, limits), name, limits)


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
    assert analysis.analyse_text(keyword_scorer, "a bad toaster") == analysis.SingleResult("negative", 0.9)


def test_one_review_matches_the_default_model(default_predictor):
    text = "The battery died after two days and support never answered."
    [(label, p)] = default_predictor.predict([text])
    assert analysis.analyse_text(default_predictor, text) == analysis.SingleResult(label, pytest.approx(p))


# -- the upload ---------------------------------------------------------------------------------


def test_size_is_checked_before_the_upload_is_decoded():
    limits = Limits(max_bytes=1000)
    # Not even valid base64: the size check must refuse it without decoding anything.
    with pytest.raises(InputError, match=r"big\.csv is 1\.0 KB; the limit is 1000 bytes"):
        analysis.decode_upload("data:text/csv;base64," + "!" * 1400, "big.csv", limits)
    assert analysis.decode_upload(data_url(b"x" * 1000), "ok.csv", limits) == b"x" * 1000


def test_damaged_upload_is_reported():
    with pytest.raises(InputError, match="damaged"):
        analysis.decode_upload("data:text/csv;base64,@@@@", "f.csv", Limits())
    with pytest.raises(InputError, match="empty"):
        analysis.decode_upload("", "f.csv", Limits())


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


def test_latin1_file_gets_a_message_naming_the_line():
    with pytest.raises(InputError, match=r"not UTF-8 text: byte 0xe9 on line 3"):
        table("text\nfine\ncaf\u00e9\n".encode("latin-1"))


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "is empty"),
        (b"PK\x03\x04rest-of-a-zip", "Excel workbook"),
        (b"\x00\x01\x02text\x00", "binary"),
        (b"text\n", "no data rows"),
        (b"text\n\"unterminated\n", "not a well-formed CSV"),
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
    assert len(table(rows, Limits(max_rows=11))) == 11


def test_missing_column_lists_the_columns_there_are():
    frame = table(b"review,stars\nfine,5\n")
    with pytest.raises(InputError, match=r"no column 'text'.*'review', 'stars'"):
        analysis.check_column(frame, "text")
    assert analysis.check_column(frame, "review") == "review"


def test_rows_that_cannot_be_scored_are_marked_not_dropped(keyword_scorer):
    frame = table(b"text,n\nbad product,1\n,2\n   ,3\n42,4\nlovely,5\n")
    progress = []
    scored = analysis.score_table(keyword_scorer, frame, "text", progress=lambda done, total: progress.append((done, total)), chunk=1)
    out = scored.frame
    assert len(out) == 5
    assert out["n"].tolist() == ["1", "2", "3", "4", "5"]
    assert out["status"].tolist() == [analysis.OK, analysis.EMPTY, analysis.EMPTY, analysis.NUMBER, analysis.OK]
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


@pytest.mark.parametrize("cell", ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\r=1"])
def test_formula_cells_are_prefixed_in_the_download(keyword_scorer, cell):
    frame = pd.DataFrame({"text": [cell, "plain words"], "=danger": ["x", "y"]})
    csv_text = analysis.to_safe_csv(analysis.score_table(keyword_scorer, frame, "text").frame, "text")
    back = pd.read_csv(io.StringIO(csv_text), dtype=str, keep_default_na=False)
    assert back["text"].tolist() == ["'" + cell, "plain words"]
    assert "'=danger" in back.columns
    assert back["p_negative"].tolist() == ["0.1", "0.1"]


@given(st.text())
def test_no_cell_of_the_download_can_start_a_formula(value):
    safe = analysis.spreadsheet_safe(value)
    assert not safe.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert safe in (value, "'" + value)


@given(st.one_of(st.text(), st.from_regex(r"[-+=@][0-9 .,()/%+eE\-a-z!|\"']{0,12}", fullmatch=True)))
def test_a_formula_start_is_left_only_on_a_number(value):
    """Outside the text column an unguarded formula start holds no letter (bar an exponent), quote or DDE mark."""
    if value.startswith(("=", "+", "-", "@", "\t", "\r")) and analysis.spreadsheet_safe(value, keep_numbers=True) == value:
        mantissa = re.sub(r"[eE][-+]?[0-9]+$", "", value)
        assert value[0] in "+-" and not any(c.isalpha() or c in "\"'!|:$&;=@" for c in mantissa)


def test_numbers_outside_the_text_column_stay_numbers_for_pandas(keyword_scorer):
    """A phone number or a negative amount is data, not a formula: prefixing it broke the file for pandas and R."""
    cells = ["-5", "+44 20 7946 0958", "-1,234.50", "-2.5e-3", "+1 (555) 010-9999", "-12%"]
    attacks = ["-2+3+cmd|' /C calc'!A0", "+HYPERLINK(\"http://x\")", "=1", "@SUM(A1)", "-", "-A1"]
    frame = pd.DataFrame({"text": ["-5", "good"] + ["fine"] * (len(cells) + len(attacks) - 2), "amount": cells + attacks})
    back = pd.read_csv(io.StringIO(analysis.to_safe_csv(analysis.score_table(keyword_scorer, frame, "text").frame, "text")),
                       dtype=str, keep_default_na=False)
    assert back["amount"].tolist() == cells + ["'" + a for a in attacks]
    assert back["text"].tolist()[0] == "'-5", "the text column stays fully guarded"
    numbers = pd.read_csv(io.StringIO(analysis.to_safe_csv(frame.iloc[[0, 3]], "text")), usecols=["amount"])["amount"]
    assert numbers.tolist() == [-5.0, -0.0025], "pandas reads the numbers back as numbers"


def test_open_upload_checks_size_then_table_then_column():
    limits = Limits(max_bytes=100)
    with pytest.raises(analysis.UploadRefused, match=r"big\.csv is 2\.0 KB; the limit is 100 bytes") as refused:
        analysis.open_upload({"filename": "big.csv", "too_large": 2048}, "text", limits)
    assert refused.value.columns is None
    with pytest.raises(analysis.UploadRefused, match="not UTF-8") as refused:
        analysis.open_upload({"filename": "x.csv", "contents": data_url("text\n\xe9\n".encode("latin-1"))}, "text", limits)
    assert refused.value.columns is None
    accepted = {"filename": "r.csv", "contents": data_url(b"id,review\n1,fine\n")}
    with pytest.raises(analysis.UploadRefused, match="no column 'text'") as refused:
        analysis.open_upload(accepted, "text", limits)
    assert refused.value.columns == ["id", "review"], "the picker is filled with the file's columns"
    upload = analysis.open_upload(accepted, "review", limits)
    assert (upload.filename, upload.column, upload.frame["review"].tolist()) == ("r.csv", "review", ["fine"])
