"""Analysis work on the worker thread: coalesced by topic, behind traces, answered by topic."""

from __future__ import annotations

import threading

from explorer.jobs import AnalysisRequest, JobQueue, TraceRequest


def test_analyses_of_one_topic_coalesce_and_only_the_newest_is_current():
    queue = JobQueue()
    older = queue.analysis("stats/table", lambda model: 1)
    newer = queue.analysis("stats/table", lambda model: 2)
    other = queue.analysis("compare/compare", lambda model: 3)
    assert queue.take_next() == newer  # the older request of the same topic was replaced
    assert not queue.is_current_analysis("stats/table", older.request_id)
    assert queue.is_current_analysis("stats/table", newer.request_id)
    queue.finished(newer.request_id)
    assert queue.take_next() == other
    queue.finished(other.request_id)
    assert queue.take_next() is None


def test_traces_go_before_waiting_analyses():
    queue = JobQueue()
    analysis = queue.analysis("stats/table", lambda model: None)
    trace = queue.trace("typed")
    assert isinstance(queue.take_next(), TraceRequest)
    queue.finished(trace.request_id)
    job = queue.take_next()
    assert isinstance(job, AnalysisRequest) and job == analysis


def test_an_analysis_runs_on_the_worker_thread_and_reaches_its_topic(qtbot, window, drive, checkpoints):
    drive.load(window, checkpoints["encoder"], text="1 2 3", target=None)
    gui_thread = threading.get_ident()
    seen: dict[str, object] = {}

    def compute(model):
        seen["thread"] = threading.get_ident()
        return model.trace("1 2 3").encoder.tokens

    with qtbot.waitSignal(window.controller.analysis_ready, timeout=drive.timeout) as answer:
        window.controller.request_analysis("probe/tokens", compute)
    assert answer.args[0] == "probe/tokens"
    assert answer.args[1] == window.state.trace.encoder.tokens
    assert seen["thread"] != gui_thread


def test_a_failing_analysis_answers_with_one_line(qtbot, window, drive, checkpoints):
    drive.load(window, checkpoints["encoder"], text="1 2 3", target=None)

    def compute(model):
        raise ValueError("the second checkpoint has 3 layers, this one 2\nsecond line")

    with qtbot.waitSignal(window.controller.analysis_failed, timeout=drive.timeout) as answer:
        window.controller.request_analysis("probe/fails", compute)
    assert answer.args == ["probe/fails", "the second checkpoint has 3 layers, this one 2"]
