"""Training run folders: listing without loading, the log, the cache and statistic curves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from explorer.analysis import timeline, training_run
from explorer.analysis.timeline import (
    CurveKey,
    CurveSchedule,
    StepStatistics,
    TracedStep,
    checkpoint_statistics,
    forced_target,
    left_out_note,
    trace_statistics,
)
from explorer.analysis.training_run import open_run
from explorer.checkpoint_cache import CheckpointCache
from explorer.modes.load_wait import LoadWait


def collected_curve(traces, kind: str, statistic: str):
    """The curve of ``statistic`` over ``(step, trace)`` pairs, as the app collects it."""
    collected = StepStatistics()
    for step, trace in traces:
        collected.add(step, trace_statistics(trace))
    return collected.curve(kind, statistic)


def _fake_checkpoint(folder: Path) -> Path:
    """A folder that looks like a checkpoint; its weights are garbage, so reading them would fail."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"not weights")
    return folder


@pytest.fixture
def run_folder(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    for step in (1000, 500, 1500):
        _fake_checkpoint(run / f"step-{step:06d}")
    _fake_checkpoint(run / "final")
    (run / "step-000100").mkdir()  # no config.json: not a checkpoint
    (run / "notes").mkdir()
    (run / "settings.json").write_text(json.dumps({"steps": 1500}))
    lines = [
        json.dumps({"step": 500, "loss": 0.5, "exact_match": {"sort": 0.25}}),
        "not json",
        json.dumps({"step": "1000", "loss": 0.1}),
        "",
        json.dumps({"step": 1000, "loss": 0.25}),
    ]
    (run / "log.jsonl").write_text("\n".join(lines) + "\n")
    return run


def test_run_lists_checkpoints_in_step_order_without_reading_weights(run_folder: Path) -> None:
    run = open_run(run_folder)
    # final/ is the same weights as step 1500 (settings.json says 1500 steps): one stop, not two.
    assert run.steps == [500, 1000, 1500]
    assert [checkpoint.label for checkpoint in run.checkpoints] == ["step 500", "step 1000", "step 1500"]
    assert run.checkpoints[0].folder == run_folder / "step-000500"


def test_final_is_listed_when_no_step_folder_holds_it(run_folder: Path) -> None:
    (run_folder / "settings.json").write_text(json.dumps({"steps": 1700}))
    run = open_run(run_folder)
    assert run.steps == [500, 1000, 1500, 1700]
    assert run.checkpoints[-1].label == "final (step 1700)"
    (run_folder / "settings.json").unlink()
    assert open_run(run_folder).checkpoints[-1].label == "final"


def test_log_is_read_on_first_use(run_folder: Path) -> None:
    run = open_run(run_folder)
    # Rewritten after opening: opening only listed folders, so the new log is what is read.
    (run_folder / "log.jsonl").write_text(json.dumps({"step": 1500, "loss": 0.0}) + "\n")
    assert sorted(run.log) == [1500]
    assert run.record(2) == {"step": 1500, "loss": 0.0}


def test_log_records_and_bad_lines(run_folder: Path) -> None:
    run = open_run(run_folder)
    assert run.record(0) == {"step": 500, "loss": 0.5, "exact_match": {"sort": 0.25}}
    assert run.record(2) is None  # step 1500 has no record
    steps, losses = run.log_series("loss")
    assert steps.tolist() == [500, 1000] and losses.tolist() == [0.5, 0.25]
    # Line 2 is not JSON, line 3 has a string step; line 4 is blank and ignored.
    assert run.log_problems == ["log.jsonl lines 2, 3 are not JSON records with an integer step"]


def test_oversized_log_is_not_read(run_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training_run, "MAX_LOG_BYTES", 10)
    run = open_run(run_folder)
    assert run.log == {}
    assert "log.jsonl is not a readable file" in run.log_problems[0]


def test_nearest_checkpoint_for_the_slider(run_folder: Path) -> None:
    run = open_run(run_folder)
    assert run.nearest(0) == 0
    assert run.nearest(1200) == 1
    assert run.nearest(1250) == 1  # a tie goes to the earlier step
    assert run.nearest(99999) == 2


def test_folders_without_checkpoints_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not a folder"):
        open_run(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no checkpoints"):
        open_run(tmp_path / "empty")


def test_cache_loads_once_and_evicts_the_least_recently_used(tmp_path: Path) -> None:
    loads: list[Path] = []

    def load(folder: Path) -> str:
        loads.append(folder)
        return f"model at {folder.name}"

    cache = CheckpointCache(load, capacity=2)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert cache.get(a) == "model at a"
    cache.get(b)
    cache.get(a)  # a becomes the most recent
    cache.get(c)  # evicts b
    assert loads == [a, b, c]
    assert a in cache and c in cache and b not in cache
    cache.get(b)
    assert loads == [a, b, c, b]


def test_cache_loads_a_folder_again_when_its_files_changed(tmp_path: Path) -> None:
    folder = tmp_path / "final"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"first")
    loads: list[bytes] = []

    def load(path: Path) -> bytes:
        loads.append((path / "model.safetensors").read_bytes())
        return loads[-1]

    cache = CheckpointCache(load)
    assert cache.get(folder) == b"first"
    assert cache.get(folder) == b"first" and len(loads) == 1
    (folder / "model.safetensors").write_bytes(b"second, longer")  # a training run rewrote it
    assert cache.get(folder) == b"second, longer"
    assert len(cache) == 1


def test_statistic_curve_over_steps_by_hand(make_trace) -> None:
    one_hot = np.array([[[[1.0, 0.0], [0.0, 1.0]]]], dtype=np.float32)  # entropy 0, diagonal 1
    half = np.full((1, 1, 2, 2), 0.5, dtype=np.float32)  # entropy 1 bit, diagonal .5
    traces = [(200, make_trace(encoder_self=half)), (100, make_trace(encoder_self=one_hot))]
    curve = collected_curve(traces, "encoder_self", "entropy_bits")
    assert curve.steps.tolist() == [100, 200]
    np.testing.assert_allclose(curve.head(0, 0), [0.0, 1.0], atol=1e-6)
    diagonal = collected_curve(traces, "encoder_self", "diagonal_share")
    np.testing.assert_allclose(diagonal.values[:, 0, 0], [1.0, 0.5])
    with pytest.raises(ValueError, match="unknown statistic"):
        collected_curve(traces, "encoder_self", "loss")


def test_curve_of_a_real_run_loaded_through_the_cache(tmp_path: Path) -> None:
    """Two tiny checkpoints saved as a run; the worker's path: open, load via the cache, trace, curve."""
    from model import load_checkpoint, save_checkpoint
    from tiny_models import task_tokenizer, tiny_config, tiny_network

    config = tiny_config("encoder-decoder")
    run_folder = tmp_path / "run"
    for step, seed in ((10, 0), (20, 1)):
        save_checkpoint(run_folder / f"step-{step:06d}", tiny_network(config, seed), task_tokenizer(), name=f"step {step}")
    run = open_run(run_folder)
    cache = CheckpointCache(load_checkpoint)
    traces = [
        (checkpoint.step, cache.get(checkpoint.folder).trace("sort: owl cat", target="cat owl"))
        for checkpoint in run.checkpoints
    ]
    curve = collected_curve(traces, "cross", "entropy_bits")
    assert curve.values.shape == (2, 2, 4)
    # Cross-attention rows over the source tokens: entropy between 0 and log2 of their
    # number, and two differently seeded networks do not give the same numbers.
    n_source = len(traces[0][1].encoder)
    assert n_source == 5  # sort : owl cat </s>
    assert np.all((curve.values >= 0) & (curve.values <= np.log2(n_source) + 1e-6))
    assert not np.allclose(curve.values[0], curve.values[1])


def test_mean_exact_match_over_tasks(run_folder: Path) -> None:
    (run_folder / "log.jsonl").write_text(
        "\n".join(
            json.dumps(record)
            for record in (
                {"step": 1000, "exact_match": {"sort": 0.5, "date": 1.0}},
                {"step": 500, "exact_match": {"sort": 0.0, "date": 0.25, "note": "n/a"}},
                {"step": 1500, "loss": 0.1},  # no exact match: left out
            )
        )
        + "\n"
    )
    steps, values = open_run(run_folder).mean_exact_match()
    assert steps.tolist() == [500, 1000]
    np.testing.assert_allclose(values, [0.125, 0.75])


def test_series_of_one_head_or_the_mean_over_heads() -> None:
    values = np.array(
        [
            [[0.0, 1.0, np.nan]],  # step 1, layer 0: heads 0–2, head 2 undefined
            [[np.nan, np.nan, np.nan]],  # step 2: no head defines it
        ]
    )  # (S=2, L=1, H=3)
    curve = timeline.StatisticCurve("encoder_self", "entropy_bits", np.array([1, 2]), values)
    np.testing.assert_array_equal(curve.series(0, 1), [1.0, np.nan])
    np.testing.assert_array_equal(curve.series(0, None), [0.5, np.nan])


def test_step_statistics_collect_every_kind_and_match_the_direct_curve(make_trace) -> None:
    rng = np.random.default_rng(3)
    traces = [
        (step, make_trace(encoder_self=rng.dirichlet(np.ones(3), size=(2, 2, 3)), cross=rng.dirichlet(np.ones(3), size=(2, 2, 4)),
                          decoder_self=np.tril(np.ones((2, 2, 4, 4))) / np.arange(1, 5)[:, None]))
        for step in (30, 10, 20)
    ]
    collected = timeline.StepStatistics()
    for step, trace in traces:
        collected.add(step, timeline.trace_statistics(trace))
    assert len(collected) == 3 and 20 in collected and 40 not in collected
    for kind in ("encoder_self", "cross"):
        built = collected.curve(kind, "max_weight")
        assert built.steps.tolist() == [10, 20, 30]
        for index, step in enumerate((10, 20, 30)):
            trace = dict(traces)[step]
            # Max weight of a head: the mean over queries of each row's largest weight.
            expected = trace.attention[kind].weights.max(axis=-1).mean(axis=-1)  # (L, H)
            np.testing.assert_allclose(built.values[index], expected, atol=1e-6)
    assert timeline.StepStatistics().curve("cross", "entropy_bits") is None
    with pytest.raises(ValueError, match="unknown statistic"):
        collected.curve("cross", "loss")


def test_checkpoint_statistics_trace_the_input_on_the_loaded_checkpoint(make_trace) -> None:
    weights = np.array([[[[0.25, 0.75], [1.0, 0.0]]]], dtype=np.float32)  # (1, 1, 2, 2)
    asked: list[tuple] = []

    class Loaded:
        def trace(self, text, target=None, pair=None):
            asked.append((text, target, pair))
            return make_trace(encoder_self=weights)

    loaded_from: list[Path] = []

    def load(folder: Path) -> Loaded:
        loaded_from.append(folder)
        return Loaded()

    traced = timeline.checkpoint_statistics(load, Path("step-000010"), "a b", None, "c")
    assert loaded_from == [Path("step-000010")] and asked == [("a b", None, "c")]
    assert not traced.unforced
    statistics = traced.statistics
    # Query 0: .25/.75 → max .75; query 1: one-hot → max 1.
    assert statistics["encoder_self"]["max_weight"][0, 0] == pytest.approx(0.875)
    assert statistics["encoder_self"]["diagonal_share"][0, 0] == pytest.approx(0.125)


def _checkpoints(*steps: int | None) -> list[timeline.RunCheckpoint]:
    return [timeline.RunCheckpoint(step, Path(f"step-{step}")) for step in steps]


def _traced(value: float, shape: tuple[int, int] = (1, 2)) -> TracedStep:
    return TracedStep({"cross": {"entropy_bits": np.full(shape, value)}})


def test_schedule_traces_each_stepped_checkpoint_once_in_order() -> None:
    schedule = CurveSchedule()
    checkpoints = _checkpoints(10, 20, None)  # final/ of unknown step has no place on the axis
    key = CurveKey(Path("run"), "a b")
    assert schedule.start(key, checkpoints, forced_ids=(1, 5, 6), forced_from="step 20")
    assert not schedule.start(key, checkpoints)  # the same curve: nothing starts again
    assert schedule.forced_ids == (1, 5, 6) and schedule.tracing
    asked = schedule.next()
    assert asked == (key, checkpoints[0])
    assert schedule.finished(key, 10, _traced(0.5))
    assert schedule.next() == (key, checkpoints[1])
    schedule.failed("the file is half written")
    assert schedule.next() is None and not schedule.tracing
    assert schedule.failures == {20: "the file is half written"}
    assert schedule.statistics.curve("cross", "entropy_bits").steps.tolist() == [10]


def test_schedule_drops_answers_of_an_older_curve_and_skips_the_step_in_flight() -> None:
    schedule = CurveSchedule()
    checkpoints = _checkpoints(10, 20)
    old, new = CurveKey(Path("run"), "a"), CurveKey(Path("run"), "b")
    schedule.start(old, checkpoints)
    schedule.next()  # step 10 of "a" goes to the worker
    schedule.start(new, checkpoints)
    assert not schedule.finished(old, 10, _traced(0.5))  # "a"'s answer arrives late
    assert len(schedule.statistics) == 0
    assert schedule.next() == (new, checkpoints[0])
    # A listing while step 10 of "b" is in flight does not queue it twice.
    schedule.queue(checkpoints)
    assert schedule.next() == (new, checkpoints[1])


def test_retry_traces_the_checkpoints_that_failed_and_the_new_ones() -> None:
    schedule = CurveSchedule()
    key = CurveKey(Path("run"), "a")
    schedule.start(key, _checkpoints(10, 20))
    for step in (10, 20):
        assert schedule.next()[1].step == step
        if step == 10:
            schedule.finished(key, 10, _traced(0.5))
        else:
            schedule.failed("half written")
    assert schedule.next() is None
    schedule.queue(_checkpoints(10, 20, 30))  # listing alone leaves the failure alone
    assert schedule.next()[1].step == 30
    schedule.finished(key, 30, _traced(0.25))
    assert schedule.next() is None
    schedule.retry(_checkpoints(10, 20, 30))
    assert schedule.failures == {}
    assert schedule.next()[1].step == 20 and schedule.next() is None


def test_curve_keeps_the_steps_of_one_shape() -> None:
    collected = StepStatistics()
    collected.add(10, _traced(1.0).statistics)
    collected.add(20, _traced(2.0, shape=(3, 4)).statistics)
    collected.add(30, _traced(3.0).statistics)
    assert collected.shapes("cross") == {10: (1, 2), 20: (3, 4), 30: (1, 2)}
    curve = collected.curve("cross", "entropy_bits", (1, 2))
    assert curve.steps.tolist() == [10, 30] and curve.values[:, 0, 1].tolist() == [1.0, 3.0]
    assert collected.curve("cross", "entropy_bits", (3, 4)).steps.tolist() == [20]
    assert collected.curve("cross", "entropy_bits", (5, 5)) is None
    with pytest.raises(ValueError, match="different layers × heads"):
        collected.curve("cross", "entropy_bits")
    assert left_out_note({20: (3, 4)}, (1, 2)) == (
        "left out of the curve: step 20 (3 layers × 4 heads), whose model differs from the loaded one (1 layers × 2 heads)"
    )
    assert left_out_note({}, (1, 2)) == ""


def test_load_wait_ends_on_the_painted_trace_a_failure_or_another_model(tmp_path: Path) -> None:
    folder = tmp_path / "step-000010"
    wait = LoadWait()
    assert not wait.trace_painted() and not wait.model_changed(folder, True)
    wait.ask(folder)
    assert not wait.trace_painted()  # a trace of the previous model
    assert not wait.model_changed(tmp_path / "step-000020", True)  # an older load of the run
    assert not wait.model_changed(folder, True) and wait.loaded
    assert wait.trace_painted() and not wait.waiting
    wait.ask(folder)
    assert not wait.load_failed(tmp_path / "other") and wait.load_failed(folder)
    wait.ask(folder)
    assert wait.model_changed("bundled", False)  # the user opened another model over the run
    wait.ask(folder)
    assert not wait.trace_failed()  # not loaded yet: a failed trace is of the previous model
    wait.model_changed(folder, True)
    assert wait.trace_failed() and not wait.waiting


def test_checkpoints_are_teacher_forced_with_the_given_decoder_tokens(make_checkpoint) -> None:
    from model import load_checkpoint

    folder = make_checkpoint("encoder-decoder", seed=3)
    model = load_checkpoint(folder)
    forced = (model.config.start_token_id, *model.tokenizer.encode("cat owl fig").ids)
    target, unforced = forced_target(model, None, forced)
    assert not unforced and model.decoder_ids(target)[0] == list(forced)
    assert forced_target(model, "fig", forced) == ("fig", False)  # a typed target wins
    traced = checkpoint_statistics(load_checkpoint, folder, "sort: owl cat fig", forced_ids=forced)
    expected = model.trace("sort: owl cat fig", target=target)
    assert expected.decoder.ids.tolist() == list(forced) and not traced.unforced
    for kind in ("decoder_self", "cross"):
        np.testing.assert_allclose(
            traced.statistics[kind]["entropy_bits"], trace_statistics(expected)[kind]["entropy_bits"], atol=1e-6
        )
    # Ids that do not begin with the start token cannot be a target: the model generates.
    unforceable = (*model.tokenizer.encode("cat owl").ids,)
    generated = checkpoint_statistics(load_checkpoint, folder, "sort: owl cat fig", forced_ids=unforceable)
    assert generated.unforced
    np.testing.assert_allclose(
        generated.statistics["cross"]["entropy_bits"],
        trace_statistics(model.trace("sort: owl cat fig"))["cross"]["entropy_bits"],
        atol=1e-6,
    )
    decoder_only = load_checkpoint(make_checkpoint("decoder"))
    assert forced_target(decoder_only, None, forced) == (None, False)
