"""PySide6's import hook, told to skip the packages that cannot use it.

Importing ``PySide6.QtCore`` replaces ``builtins.__import__``: after every import it
asks whether the new module uses PySide's ``from __feature__ import ...`` switches, by
reading the module's whole source (``inspect.getsource``) and looking for "PySide6".
The worker imports torch after PySide6 is in, so that check reads and keeps in
``linecache`` the source of about 900 torch and numpy modules: roughly 0.3 s of CPU on
the way to the first painted window (measured here: ``import torch`` takes 1.7 s of
CPU after ``import PySide6.QtCore`` and 1.4 s without the check).

``skip_known_packages`` answers that question at once for the packages listed in
``NO_PYSIDE`` (torch and the packages it brings, and the standard library), none of
which mentions PySide6, so the answer is the one the source scan would give ("ignore
this module"); every other module (ours, pyqtgraph) is still scanned as before. The
hook is PySide's private code: when it is not where this module expects it, nothing is
changed and imports are only as slow as they were.
"""

from __future__ import annotations

import logging
import sys
from types import ModuleType

log = logging.getLogger(__name__)

# Top-level packages that never use PySide: torch, what it imports, and the standard library.
NO_PYSIDE = frozenset({"torch", "torchgen", "functorch", "numpy", "sympy", "mpmath", "tokenizers", "safetensors", "tqdm"})
NO_PYSIDE |= frozenset(sys.stdlib_module_names) - {"__main__"}
_FEATURE_MODULE = "shibokensupport.feature"  # made by shiboken when PySide6.QtCore is imported
_CHECK = "_mod_uses_pyside"  # its test: module -> whether the source mentions PySide6


def skip_known_packages() -> bool:
    """Let PySide's import hook pass ``NO_PYSIDE`` modules without reading their source.

    Call after ``PySide6.QtCore`` is imported and before torch is. Returns whether the
    hook was found and told (once per process; later calls return True and do nothing).
    """
    feature = sys.modules.get(_FEATURE_MODULE)
    check = getattr(feature, _CHECK, None)
    if not callable(check):
        log.debug("PySide6's import hook is not where expected; imports keep their source scan")
        return False
    if getattr(check, "skips", None) is NO_PYSIDE:
        return True

    def uses_pyside(module: ModuleType) -> bool:
        name = getattr(module, "__name__", "")
        if isinstance(name, str) and name.partition(".")[0] in NO_PYSIDE:
            return False
        return check(module)

    uses_pyside.skips = NO_PYSIDE  # type: ignore[attr-defined]
    uses_pyside.scan = check  # type: ignore[attr-defined] - the original, for the tests
    setattr(feature, _CHECK, uses_pyside)
    return True
