"""Where the bundled checkpoint lives, however the project was installed.

In a checkout (and an editable install) it is ``resources/bundled-model`` beside the
source. A wheel carries the same three files as the data package
``model._bundled_model`` (see ``pyproject.toml``); ``importlib.resources`` finds them
there, and where the install is not a plain folder (a zip) they are copied out once to a
temporary folder, because the loader reads a folder.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path

from .weights import CheckpointError

SOURCE_TREE_FOLDER = Path(__file__).resolve().parent.parent / "resources" / "bundled-model"
DATA_PACKAGE = "model._bundled_model"
FILES = ("config.json", "model.safetensors", "tokenizer.json")


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in FILES)


def _installed_data() -> resources.abc.Traversable | None:
    try:
        data = resources.files(DATA_PACKAGE)
    except ModuleNotFoundError:  # a checkout: the data package exists only in a wheel
        return None
    return data if all(data.joinpath(name).is_file() for name in FILES) else None


@lru_cache(maxsize=1)
def bundled_checkpoint() -> Path:
    """The folder of the trained encoder–decoder that ships with the project.

    Raises:
        CheckpointError: naming both places that were looked in (a broken or partial install).
    """
    if _complete(SOURCE_TREE_FOLDER):
        return SOURCE_TREE_FOLDER
    data = _installed_data()
    if data is None:
        raise CheckpointError(
            f"the bundled model is missing from this installation: neither {SOURCE_TREE_FOLDER} "
            f"nor the package data {DATA_PACKAGE} holds {', '.join(FILES)}; reinstall attention-explorer"
        )
    # A namespace package's files() is a MultiplexedPath; its entries are real paths.
    first = data.joinpath(FILES[0])
    if isinstance(first, Path) and _complete(first.parent):
        return first.parent
    return _copied_out(data)


def _copied_out(data: resources.abc.Traversable) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="attention-explorer-bundled-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    for name in FILES:
        with resources.as_file(data.joinpath(name)) as source:
            shutil.copyfile(source, folder / name)
    return folder
