"""Dialogs: choosing a checkpoint (folder, file, local Hugging Face cache) or a text file, and error boxes.

Error boxes are opened window-modal but non-blocking (``open()``), so the event loop —
and the worker's results — keep flowing while one is shown.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

CHECKPOINT_FILES = "Checkpoint files (config.json *.safetensors);;All files (*)"
TEXT_FILES = "Text files (*.txt *.md *.text);;All files (*)"


def choose_checkpoint_folder(parent: QWidget, start: str = "") -> str | None:
    """A checkpoint folder (the one holding config.json)."""
    folder = QFileDialog.getExistingDirectory(parent, "Open checkpoint folder", start)
    return folder or None


def choose_checkpoint_file(parent: QWidget, start: str = "") -> str | None:
    """A file inside a checkpoint folder (config.json or model.safetensors)."""
    path, _ = QFileDialog.getOpenFileName(parent, "Open checkpoint file", start, CHECKPOINT_FILES)
    return path or None


def choose_text_file(parent: QWidget, start: str = "") -> str | None:
    """A UTF-8 text file to use as the source."""
    path, _ = QFileDialog.getOpenFileName(parent, "Open text file", start, TEXT_FILES)
    return path or None


def cached_models() -> tuple[list[tuple[str, str]], str]:
    """(repo id, label) of every model in the local Hugging Face cache, and a message when none.

    The cache is read offline; nothing is downloaded.
    """
    try:
        from model.hf import cache
    except ImportError as error:
        return [], f"Hugging Face cache support is not available ({error})."
    lister = getattr(cache, "list_cached_models", None)
    if lister is None:
        return [], "This version cannot list the Hugging Face cache yet."
    try:
        entries = list(lister())
    except Exception as error:  # noqa: BLE001 - a broken cache must not crash the menu
        return [], f"Could not read the Hugging Face cache: {error}"
    if not entries:
        folder = getattr(cache, "cache_folder", lambda: "the Hugging Face cache")()
        return [], (
            f"No model that can be opened was found in {folder}. Models are never downloaded here; "
            "put one in the cache first (for example with huggingface-cli download)."
        )
    return [(entry.repo_id, f"{entry.repo_id}   ({entry.model_type})") for entry in entries], ""


def choose_cached_model(parent: QWidget) -> str | None:
    models, message = cached_models()
    if not models:
        show_message(parent, "Open from Hugging Face cache", message, QMessageBox.Icon.Information)
        return None
    labels = [label for _, label in models]
    label, accepted = QInputDialog.getItem(parent, "Open from Hugging Face cache", "Cached model:", labels, 0, False)
    if not accepted:
        return None
    return models[labels.index(label)][0]


def show_message(parent: QWidget, title: str, text: str, icon: QMessageBox.Icon = QMessageBox.Icon.Warning) -> QMessageBox:
    """A non-blocking message box; the caller may keep it to test or close it."""
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setWindowModality(box.windowModality().WindowModal)
    box.open()
    return box


def dropped_checkpoint(paths: list[str]) -> str | None:
    """The checkpoint a drop names: the first folder, or the folder of a dropped file."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            return str(path)
        if path.is_file() and path.suffix in (".json", ".safetensors"):
            return str(path.parent)
    return None
