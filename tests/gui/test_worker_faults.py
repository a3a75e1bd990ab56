"""Device faults, truncation notices, closing during a load, the offline cache list."""

from __future__ import annotations

import time
from types import SimpleNamespace

import torch

from explorer import dialogs
from model import AttentionModel



class SimulatedGpuModel(AttentionModel):
    """Claims to sit on a GPU whose every forward runs out of memory, until moved to the CPU."""

    on_gpu = True

    @property
    def device(self) -> torch.device:
        return torch.device("cuda", 0) if self.on_gpu else torch.device("cpu")

    def to(self, device):
        self.on_gpu = str(device) != "cpu"
        return self

    def trace(self, *args, **kwargs):
        if self.on_gpu:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return super().trace(*args, **kwargs)


def test_cuda_out_of_memory_falls_back_to_cpu_with_a_notice(drive, qtbot, window, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    model = window.controller._worker._model
    model.__class__ = SimulatedGpuModel  # the worker is idle: nothing runs on the model now
    with qtbot.waitSignal(window.controller.device_changed, timeout=drive.timeout) as moved:
        window.input_panel.source.setPlainText("number: nine")
    info, notice = moved.args
    assert info.device == "cpu" and "out of memory" in notice
    drive.wait_for_text(window, "number: nine")
    assert window.device_label.text() == "device: cpu"
    assert window.device_actions["cpu"].isChecked()
    assert window.last_notice == notice


def test_an_error_in_the_worker_is_shown_and_the_next_input_works(drive, qtbot, window, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    model = window.controller._worker._model
    original = model.trace
    model.trace = lambda *args, **kwargs: (_ for _ in ()).throw(RuntimeError("shape mismatch in layer 3\nmore"))
    with qtbot.waitSignal(window.controller.trace_failed, timeout=drive.timeout) as failed:
        window.input_panel.source.setPlainText("number: one")
    assert failed.args[1] == "shape mismatch in layer 3"
    assert "shape mismatch in layer 3" in window.statusBar().currentMessage()
    model.trace = original
    window.input_panel.source.setPlainText("number: two")
    drive.wait_for_text(window, "number: two")


def test_input_longer_than_the_model_maximum_shows_a_notice(drive, qtbot, window, checkpoints):
    drive.load(window, checkpoints["encoder-decoder"])
    text = "reverse: " + " ".join(["owl cat fig"] * 20)
    window.input_panel.source.setPlainText(text)
    drive.wait_for_text(window, text)
    assert len(window.state.trace.encoder) == 32
    assert not window.input_panel.notice.isHidden()
    assert "32 tokens" in window.input_panel.notice.text()


def test_closing_during_a_load_exits_quickly(qtbot, checkpoints):
    from explorer.main_window import MainWindow
    from explorer.settings import Settings

    window = MainWindow(Settings(None))
    qtbot.addWidget(window)
    window.show()
    window.open_checkpoint(str(checkpoints["encoder-decoder"]))
    assert window.controller.loading
    start = time.perf_counter()
    window.close()
    assert time.perf_counter() - start < 2.0
    assert not window.controller.thread.isRunning()


def test_hugging_face_cache_list_is_offline_and_explains_an_empty_cache(monkeypatch, tmp_path):
    from model.hf import cache

    monkeypatch.setattr(cache, "list_cached_models", lambda: [])
    monkeypatch.setattr(cache, "cache_folder", lambda: tmp_path / "hub")
    models, message = dialogs.cached_models()
    assert models == [] and str(tmp_path / "hub") in message
    entry = SimpleNamespace(repo_id="org/tiny-bert", model_type="bert", folder=tmp_path)
    monkeypatch.setattr(cache, "list_cached_models", lambda: [entry])
    models, message = dialogs.cached_models()
    assert models == [("org/tiny-bert", "org/tiny-bert   (bert)")] and message == ""


def test_dropped_folder_or_file_names_the_checkpoint(checkpoints, tmp_path):
    folder = checkpoints["encoder-decoder"]
    assert dialogs.dropped_checkpoint([str(folder)]) == str(folder)
    assert dialogs.dropped_checkpoint([str(folder / "config.json")]) == str(folder)
    (tmp_path / "notes.txt").write_text("x")
    assert dialogs.dropped_checkpoint([str(tmp_path / "notes.txt")]) is None
