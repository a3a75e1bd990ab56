"""Keep Python's full garbage collections out of typing.

The window, its plots and the loaded model are several hundred thousand objects that live
as long as the app does. A full (oldest-generation) collection walks every one of them:
152 ms on this machine, once every few dozen keystrokes, the longest stall typing had.
"""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Collect once, then leave every object alive now out of later collections.

    Called after a newly opened model's first trace is painted, a pause the user waits
    through anyway. What typing makes afterwards is still collected as usual; what was
    frozen before (a previous model's objects) is released first, so switching models
    frees the old one's cycles.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
