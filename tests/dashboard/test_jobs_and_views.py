"""Background CSV jobs and what the Analyse tab shows of them."""

from __future__ import annotations

import pandas as pd

from dashboard import analysis_view
from dashboard.jobs import DONE, FAILED, CsvJobs, Job
from tests.dashboard.helpers import wait_for


def test_a_job_scores_every_row_and_reports_progress(keyword_scorer):
    jobs = CsvJobs(keyword_scorer)
    frame = pd.DataFrame({"text": ["bad"] * 300 + ["good"] * 250 + [""]})
    job_id = jobs.submit(frame, "text", "f.csv")
    job = wait_for(lambda: (j := jobs.get(job_id)) and j.state == DONE and j, what="the job to finish")
    assert job.scored == job.to_score == 550
    assert job.result.counts() == {"positive": 250, "negative": 300, "not scored": 1}
    view = analysis_view.job_view(job)
    assert view.finished and view.can_download and view.status_kind == "ok"
    assert "551 rows, 250 positive, 300 negative, 1 not scored" in view.status
    assert len(view.preview_rows) == analysis_view.PREVIEW_ROWS
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


def test_only_the_newest_finished_jobs_are_kept(keyword_scorer):
    jobs = CsvJobs(keyword_scorer, keep=2)
    ids = []
    for _ in range(5):
        ids.append(jobs.submit(pd.DataFrame({"text": ["good"]}), "text", "f.csv"))
        wait_for(lambda: jobs.get(ids[-1]).state == DONE, what="the job")
    assert [jobs.get(i) is not None for i in ids] == [False, False, False, True, True]
    assert jobs.get("not-a-job") is None and jobs.get(None) is None
    jobs.shutdown()


def test_finished_jobs_expire(keyword_scorer):
    jobs = CsvJobs(keyword_scorer, ttl_s=0.2)
    job_id = jobs.submit(pd.DataFrame({"text": ["good"]}), "text", "f.csv")
    wait_for(lambda: jobs.get(job_id).state == DONE, what="the job")
    wait_for(lambda: jobs.get(job_id) is None, what="the job to expire")
    assert "expired" in analysis_view.job_view(None, job_id).status
    jobs.shutdown()


def test_a_running_job_shows_progress():
    job = Job(id="j", filename="big.csv", rows=1000, state="running", scored=250, to_score=1000)
    view = analysis_view.job_view(job)
    assert view.show_progress and view.progress == 0.25 and not view.finished and not view.can_download
    assert "250 of 1,000 rows (25%)" in view.status


def test_no_job_shows_nothing_and_stops_polling():
    view = analysis_view.job_view(None)
    assert view.finished and not view.can_download and view.status == ""


def test_single_result_view():
    from dashboard.analysis import SingleResult

    ok = analysis_view.single_result(SingleResult("negative", 0.91))
    assert "negative" in str(ok) and "0.910" in str(ok)
    error = analysis_view.single_result(None, "Type or paste a review first")
    assert error.id == "review-error"
