"""Saving a trace to one .npz and opening it again without the model; hostile files refused in one sentence."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from explorer.core import views
from explorer.core.selection import Selection
from explorer.core.state import ExplorerState
from model import load_checkpoint
from model import trace_file
from model.trace_file import TraceFileError, load_trace, save_trace, trace_members


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple:
    model = load_checkpoint()
    trace = model.trace("date: wednesday, 25 november 2026")
    path = tmp_path_factory.mktemp("traces") / "trace.npz"
    save_trace(trace, path, model.describe())
    return trace, path, model.describe()


def _arrays(view) -> list[np.ndarray]:
    return [value for value in vars(view).values() if isinstance(value, np.ndarray)]


@pytest.mark.parametrize("values", ["weights", "scores", "value-weighted"])
def test_a_reopened_trace_gives_every_panel_the_same_arrays(saved, values: str) -> None:
    trace, path, description = saved
    reopened, read_description = load_trace(path)
    assert read_description == description and reopened.model_name == trace.model_name
    assert reopened.generated == trace.generated and reopened.kinds == trace.kinds
    for kind in trace.kinds:
        for layer, head in ((0, 0), (2, 3), (1, None)):
            selection = Selection(kind=kind, layer=layer, head=head, query=1, values=values)
            for name in views.PANELS:
                original = views.MAKERS[name](ExplorerState.of(trace, selection))
                shown = views.MAKERS[name](ExplorerState.of(reopened, selection))
                if original is None:
                    assert shown is None
                    continue
                assert getattr(shown, "title", None) == getattr(original, "title", None)
                for a, b in zip(_arrays(original), _arrays(shown), strict=True):
                    assert np.array_equal(a, b, equal_nan=True)
    assert np.array_equal(reopened.decoder_residuals, trace.decoder_residuals)
    assert [t for t in reopened.encoder.tokens] == trace.encoder.tokens


def _write(path: Path, members: dict[str, np.ndarray], allow_pickle: bool = False) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in members.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array, allow_pickle=allow_pickle)
            archive.writestr(f"{name}.npy", buffer.getvalue())
    return path


def _members(saved) -> dict[str, np.ndarray]:
    trace, _path, description = saved
    return trace_members(trace, description)


def _huge_header() -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6, 4, 4)})
    return buffer.getvalue() + b"\0" * 64


HOSTILE = {
    "not a zip": (lambda m, p: p.write_bytes(b"not a zip at all"), "is not an .npz archive"),
    "a pickle": (lambda m, p: _write(p, {**m, "notices": np.array([object()], dtype=object)}, allow_pickle=True),
                 "has dtype object"),
    "an unknown member": (lambda m, p: _write(p, {**m, "payload": np.zeros(3)}), "named 'payload'"),
    "a missing member": (lambda m, p: _write(p, {k: v for k, v in m.items() if k != "cross_scores"}),
                         "has no 'cross_scores' array"),
    "a wrong query count": (lambda m, p: _write(p, {**m, "cross": m["cross"][:, :, :-1]}), "queries × keys"),
    "scores of another shape": (lambda m, p: _write(p, {**m, "encoder_self_scores": m["encoder_self_scores"][:1]}),
                                "'encoder_self_scores' has shape"),
    "a non-float map": (lambda m, p: _write(p, {**m, "cross": m["cross"].astype(np.int64)}), "has dtype int64"),
    "complex numbers": (lambda m, p: _write(p, {**m, "cross": m["cross"].astype(np.complex64)}), "numbers and text only"),
    "another format": (lambda m, p: _write(p, {**m, "format": np.array("something else")}), "is not a saved attention"),
    "a later version": (lambda m, p: _write(p, {**m, "version": np.array(7)}), "trace format 7"),
    "an unknown architecture": (lambda m, p: _write(p, {**m, "architecture": np.array("sideways")}),
                                "unknown architecture"),
    "kinds of another architecture": (lambda m, p: _write(p, {**m, "architecture": np.array("encoder")}),
                                      "is an encoder trace but holds"),
    "kv heads out of range": (lambda m, p: _write(p, {**m, "cross_kv_heads": np.array([0, 1, 2, 9])}),
                              "key/value heads name heads"),
    "a directory entry": (lambda m, p: _raw_zip(p, m, "folder/", b""), "is not an array"),
    "a header claiming terabytes": (lambda m, p: _raw_zip(p, m, "cross.npy", _huge_header()), "would take"),
    "a truncated array": (lambda m, p: _raw_zip(p, m, "cross.npy", _npy(m["cross"])[:-40]), "declares"),
}


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array)
    return buffer.getvalue()


def _raw_zip(path: Path, members: dict, name: str, data: bytes) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for member, array in members.items():
            if f"{member}.npy" != name:
                archive.writestr(f"{member}.npy", _npy(array))
        archive.writestr(name, data)


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_trace_files_are_refused_in_one_sentence(saved, tmp_path: Path, case: str) -> None:
    write, message = HOSTILE[case]
    path = tmp_path / "hostile.npz"
    write(_members(saved), path)
    with pytest.raises(TraceFileError) as refused:
        load_trace(path)
    text = str(refused.value)
    assert message in text and "hostile.npz" in text and "\n" not in text


def test_a_zip_bomb_is_refused_before_it_expands(saved, tmp_path: Path) -> None:
    members = _members(saved)
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member, array in members.items():
            archive.writestr(f"{member}.npy", _npy(np.zeros((32, 32, 32, 32), np.float32) if member == "cross_value_norms"
                                                    else array))
    with pytest.raises(TraceFileError, match="would expand from .* a saved trace expands at most 100-fold"):
        load_trace(path)


def test_a_trace_larger_than_the_limit_is_refused_before_it_is_read(saved, monkeypatch) -> None:
    _trace, path, _description = saved
    monkeypatch.setattr(trace_file, "MAX_TRACE_BYTES", 1000)
    with pytest.raises(TraceFileError, match="would take"):
        load_trace(path)
