"""What a user installs: the package list, the bundled model found from package data, ``python -m explorer``.

The wheel itself is built and installed into a fresh environment by ``.ci/run``; these
tests hold the pieces that step relies on.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import pytest

from model import CheckpointError, bundled
from model.bundled import FILES

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent


def test_the_package_list_names_every_source_package_and_the_bundled_model() -> None:
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    source_packages = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("model", "explorer")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert set(setup["packages"]) == source_packages | {bundled.DATA_PACKAGE}
    assert setup["package-dir"][bundled.DATA_PACKAGE] == "resources/bundled-model"
    assert sorted(setup["package-data"][bundled.DATA_PACKAGE]) == sorted(FILES)
    assert all((ROOT / "resources" / "bundled-model" / name).is_file() for name in FILES)


def test_a_missing_bundled_model_names_both_places_it_was_looked_for(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(bundled, "SOURCE_TREE_FOLDER", tmp_path / "no-model-here")
    monkeypatch.setattr(bundled, "DATA_PACKAGE", "no_such_package_for_the_bundled_model")
    bundled.bundled_checkpoint.cache_clear()
    try:
        with pytest.raises(CheckpointError) as raised:
            bundled.bundled_checkpoint()
    finally:
        bundled.bundled_checkpoint.cache_clear()
    message = str(raised.value)
    assert "no-model-here" in message and "no_such_package_for_the_bundled_model" in message
    assert "None" not in message


def test_bundled_files_inside_a_zip_are_copied_out_to_one_folder(monkeypatch, tmp_path: Path) -> None:
    """A zip-safe install: importlib.resources gives no folder, so the three files are copied out."""
    archive = tmp_path / "site.zip"
    source = ROOT / "resources" / "bundled-model"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("zipped_bundle/__init__.py", "")
        for name in FILES:
            handle.write(source / name, f"zipped_bundle/{name}")
    monkeypatch.syspath_prepend(str(archive))
    monkeypatch.setattr(bundled, "SOURCE_TREE_FOLDER", tmp_path / "not-a-checkout")
    monkeypatch.setattr(bundled, "DATA_PACKAGE", "zipped_bundle")
    bundled.bundled_checkpoint.cache_clear()
    try:
        assert not isinstance(resources.files("zipped_bundle"), Path)
        folder = bundled.bundled_checkpoint()
    finally:
        bundled.bundled_checkpoint.cache_clear()
    for name in FILES:
        assert (folder / name).read_bytes() == (source / name).read_bytes()


def test_python_dash_m_explorer_runs_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "explorer", "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: attention-explorer")
    for command in ("dump", "export", "stats", "--text-file"):
        assert command in result.stdout
