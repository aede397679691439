"""Background CSV jobs and what the Analyse tab shows of them."""

from __future__ import annotations

import threading

import pandas as pd
import pytest

from common.labels import Label
from dashboard import analysis_view
from dashboard.jobs import DONE, FAILED, PREVIEW_ROWS, QUEUED, Busy, CsvJobs, Job, job_id_from_query
from tests.dashboard.helpers import component_props, wait_for


def _job(jobs: CsvJobs, job_id: str) -> Job:
    job = jobs.get(job_id)
    assert job is not None, f"job {job_id} is unknown or expired"
    return job


def test_a_job_scores_every_row_and_reports_progress(keyword_scorer):
    jobs = CsvJobs(keyword_scorer)
    frame = pd.DataFrame({"text": ["bad"] * 300 + ["good"] * 250 + [""]})
    job_id = jobs.submit(frame, "text", "f.csv")
    job = wait_for(lambda: (j := jobs.get(job_id)) and j.state == DONE and j, what="the job to finish")
    assert job.scored == job.to_score == 550
    assert job.result.counts == {"positive": 250, "negative": 300, "not scored": 1}
    view = analysis_view.job_view(job)
    assert view.finished and view.can_download and view.status_kind == "ok"
    assert "551 rows, 250 positive, 300 negative, 1 not scored" in view.status
    assert len(view.preview_rows) == PREVIEW_ROWS
    assert view.preview_note == "First 20 of 551 rows; the download has them all."
    jobs.shutdown()


def test_the_labelled_csv_waits_on_disk_and_goes_when_it_expires(keyword_scorer, tmp_path):
    texts = ["a bad kettle", "lovely", "=cmd", ""]
    jobs = CsvJobs(keyword_scorer, ttl_s=0.5, results_dir=tmp_path)
    job_id = jobs.submit(pd.DataFrame({"text": texts, "n": ["1", "2", "3", "4"]}), "text", "mine.csv")
    job = wait_for(lambda: (j := jobs.get(job_id)) and j.state == DONE and j, what="the job")
    assert job.result.path.parent.parent == tmp_path and job.result.size == job.result.path.stat().st_size
    back = pd.read_csv(job.result.path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert back["predicted_label"].tolist() == ["negative", "positive", "positive", ""]  # "bad" means negative
    assert back["text"].tolist()[2] == "'=cmd" and back["n"].tolist() == ["1", "2", "3", "4"]
    wait_for(lambda: jobs.get(job_id) is None, what="the job to expire")
    assert not job.result.path.exists()
    jobs.shutdown()


def test_a_failing_model_gives_a_plain_message_and_no_traceback():
    class Broken:
        version = "broken"

        def judge(self, texts):
            raise RuntimeError("secret internal detail")

    jobs = CsvJobs(Broken())
    job_id = jobs.submit(pd.DataFrame({"text": ["x"]}), "text", "f.csv")
    job = wait_for(lambda: (j := jobs.get(job_id)) and j.state == FAILED and j, what="the job to fail")
    view = analysis_view.job_view(job)
    assert view.status_kind == "error" and "secret" not in view.status and "server log" in view.status
    jobs.shutdown()


def test_results_are_kept_their_time_however_many_files_follow(keyword_scorer):
    """A regression: only the newest 4 were kept, so another user's 4 small files took a result before its 30
    minutes.
    """
    jobs = CsvJobs(keyword_scorer)
    ids = []
    for _ in range(8):
        ids.append(jobs.submit(pd.DataFrame({"text": ["good"]}), "text", "f.csv"))
        wait_for(lambda: _job(jobs, ids[-1]).state == DONE, what="the job")
    assert all(_job(jobs, i).result is not None for i in ids)
    assert jobs.get("not-a-job") is None and jobs.get(None) is None
    jobs.shutdown()


def test_results_space_is_bounded_by_refusing_new_files_not_by_dropping_results(keyword_scorer):
    def frame() -> pd.DataFrame:
        return pd.DataFrame({"text": ["good words"] * 100})

    jobs = CsvJobs(keyword_scorer, ttl_s=1.0, max_result_bytes=20_000)
    first = jobs.submit(frame(), "text", "a.csv", size=1500)
    wait_for(lambda: _job(jobs, first).state == DONE, what="the first job")
    used = _job(jobs, first).result.size  # type: ignore[union-attr]  # the job is done: it has its result
    # A file reserves 1.2 times its size plus 48 bytes a row:
    # this one fits the space alone, not beside the first result.
    size = int((20_000 - used / 2 - 100 * 48) / 1.2)
    with pytest.raises(Busy, match="space for results is full"):
        jobs.submit(frame(), "text", "b.csv", size=size)
    assert _job(jobs, first).result is not None, "the first result stays"
    wait_for(lambda: jobs.get(first) is None, what="the first result to expire")
    second = jobs.submit(frame(), "text", "b.csv", size=size)
    wait_for(lambda: _job(jobs, second).state == DONE, what="the second job")
    jobs.shutdown()


class BlockingScorer:
    """Scores only once released, so a test can fill the line."""

    version = "blocking"

    def __init__(self) -> None:
        self.release = threading.Event()

    def judge(self, texts):
        self.release.wait(30)
        return [(Label.POSITIVE, 0.1)] * len(texts)


def test_the_line_and_the_uploads_in_flight_are_capped():
    scorer = BlockingScorer()
    jobs = CsvJobs(scorer, max_waiting=2, max_parsing=1)
    running = jobs.submit(pd.DataFrame({"text": ["x"]}), "text", "mine.csv")
    waiting = jobs.submit(pd.DataFrame({"text": ["y", "z"]}), "text", "yours.csv")
    with pytest.raises(Busy, match="busy with other files; try again in a minute"):
        jobs.submit(pd.DataFrame({"text": ["w"]}), "text", "theirs.csv")
    with pytest.raises(Busy), jobs.admit():
        pass  # the line is full: not even parsing starts
    queued = _job(jobs, waiting)
    assert queued.state == QUEUED and queued.ahead == 1
    view = analysis_view.job_view(queued)
    assert view.status.startswith("yours.csv is waiting: 1 file ahead of it") and "mine.csv" not in view.status
    scorer.release.set()
    wait_for(lambda: _job(jobs, waiting).state == DONE, what="the line to clear")
    with jobs.admit(), pytest.raises(Busy), jobs.admit():
        pass  # the one parsing slot is taken
    with jobs.admit():
        pass  # and free again
    assert _job(jobs, running).state == DONE
    jobs.shutdown()


@pytest.mark.parametrize(
    "ahead, wait_s, expected",
    [
        (1, None, "f.csv is waiting: 1 file ahead of it; an estimate follows once a file has been scored."),
        (2, 22.0, "f.csv is waiting: 2 files ahead of it; it should start in about 20 seconds."),
        (3, 150.0, "f.csv is waiting: 3 files ahead of it; it should start in about 2 minutes."),
    ],
)
def test_a_queued_file_sees_its_place_and_estimate(ahead, wait_s, expected):
    job = Job(id="j", filename="f.csv", rows=10, state=QUEUED, ahead=ahead, wait_s=wait_s)
    assert analysis_view.job_view(job).status == expected


def test_the_estimate_comes_from_the_rate_of_finished_files(keyword_scorer):
    jobs = CsvJobs(keyword_scorer)
    done = jobs.submit(pd.DataFrame({"text": ["good"] * 2000}), "text", "a.csv")
    wait_for(lambda: _job(jobs, done).state == DONE, what="a first job")
    blocking = BlockingScorer()
    jobs._scorer = blocking
    first = jobs.submit(pd.DataFrame({"text": ["x"] * 500}), "text", "b.csv")
    second = jobs.submit(pd.DataFrame({"text": ["y"]}), "text", "c.csv")
    queued = _job(jobs, second)
    assert queued.ahead == 1 and queued.wait_s is not None and queued.wait_s > 0
    blocking.release.set()
    wait_for(lambda: _job(jobs, second).state == DONE, what="the line to clear")
    assert _job(jobs, first).state == DONE
    jobs.shutdown()


@pytest.mark.parametrize(
    "search, expected",
    [
        ("?job=" + "a1" * 16, "a1" * 16),
        ("", None),
        (None, None),
        ("?job=../../etc", None),
        ("?x=1&job=" + "0" * 32, "0" * 32),
    ],
)
def test_a_job_id_is_read_from_the_page_address(search, expected):
    assert job_id_from_query(search) == expected


def test_finished_jobs_expire(keyword_scorer):
    jobs = CsvJobs(keyword_scorer, ttl_s=0.2)
    job_id = jobs.submit(pd.DataFrame({"text": ["good"]}), "text", "f.csv")
    wait_for(lambda: _job(jobs, job_id).state == DONE, what="the job")
    wait_for(lambda: jobs.get(job_id) is None, what="the job to expire")
    assert "expired" in analysis_view.job_view(None, job_id).status
    jobs.shutdown()


def test_a_running_job_shows_progress():
    job = Job(id="j", filename="big.csv", rows=1000, state="running", scored=250, to_score=1000)
    view = analysis_view.job_view(job)
    assert view.show_progress and view.progress == 0.25 and not view.finished and not view.can_download
    assert "250 of 1,000 rows (25%)" in view.status
    assert "0 of 1 row (0%)" in analysis_view.job_view(Job(id="j", filename="one.csv", rows=1, state="running")).status


@pytest.mark.parametrize(
    "shown, rows, note",
    [
        (20, 100_000, "First 20 of 100,000 rows; the download has them all."),
        (3, 3, "All 3 rows."),
        (1, 1, "The only row."),
    ],
)
def test_the_preview_says_how_much_of_the_file_it_shows(shown, rows, note):
    assert analysis_view.preview_note(shown, rows) == note


def test_no_job_shows_nothing_and_stops_polling():
    view = analysis_view.job_view(None)
    assert view.finished and not view.can_download and view.status == ""


@pytest.mark.parametrize("expected", ["negative", "positive"])
def test_single_result_view_shows_the_verdict(expected, clear_reviews, default_predictor):
    from dashboard.analysis import analyse_text

    text = clear_reviews[expected]
    [(label, p_negative)] = default_predictor.predict([text])
    assert label == expected
    view = analysis_view.single_result(analyse_text(default_predictor, text), text=text)
    assert component_props(view, "review-label")["children"] == expected
    assert component_props(view, "review-p-negative")["children"] == f"{p_negative:.3f}"


def test_single_result_view_shows_an_error():
    error = analysis_view.single_result(None, "Type or paste a review first")
    assert error.id == "review-error"  # type: ignore[attr-defined]  # Dash sets the props as attributes
    assert error.children == "Type or paste a review first"


def test_the_labelled_csv_written_in_slices_is_the_whole_table_at_once(keyword_scorer, tmp_path, monkeypatch):
    from dashboard import jobs as jobs_module
    from dashboard.analysis import score_table, to_safe_csv

    monkeypatch.setattr(jobs_module, "_WRITE_ROWS", 3)
    texts = ["bad", "=1+1", "", 'good, "quoted"\nline', "12", "fine", "-bad"]
    table = score_table(keyword_scorer, pd.DataFrame({"text": texts, "n": [str(i) for i in range(7)]}), "text")
    result = jobs_module.JobResult.write(table, tmp_path / "out.csv")
    assert result.path.read_text(encoding="utf-8") == "\ufeff" + to_safe_csv(table.frame, "text")


def test_the_result_names_an_encoding_other_than_utf8(keyword_scorer):
    jobs = CsvJobs(keyword_scorer)
    ids = [
        jobs.submit(pd.DataFrame({"text": ["café"]}), "text", f"{enc}.csv", encoding=enc)
        for enc in ("cp1252", "utf-8-sig")
    ]

    def finished(job_id: str) -> Job:
        return wait_for(lambda: (j := jobs.get(job_id)) and j.state == DONE and j, what="the job")

    views = [analysis_view.job_view(finished(i)) for i in ids]
    assert views[0].status.startswith("cp1252.csv (read as cp1252, not UTF-8): 1 row, 1 positive")
    assert views[1].status.startswith("utf-8-sig.csv: 1 row, 1 positive")
    jobs.shutdown()
