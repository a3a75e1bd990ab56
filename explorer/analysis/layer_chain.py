"""An analysis of one trace computed a step (one layer) at a time, one worker request per step.

The worker runs one job at a time and a torch forward cannot be interrupted, so an
analysis that takes seconds on a long input would hold back the next keystroke's trace.
A ``LayerChain`` cuts it into steps — a layer of the rollout, a layer of one kind's head
statistics — that the mode asks for one after the other: step ``i + 1`` is requested
when step ``i`` answers, so a trace waiting in the queue runs between two steps. Each
step gets the previous step's result (the rollout's running product); a mode that sees
a newer trace drops its chain and starts another.

Plain Python, no Qt: the mode sends ``next_compute()`` to the worker and hands the
answer back to ``take``.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Sequence

Step = Callable[[Any], Any]  # the previous step's result (None for the first) → this step's


class LayerChain:
    """Steps computed in order, each from the previous one's result.

    Attributes:
        key: what the chain computes (the trace and whatever else picks the analysis);
            a mode compares it with what it now needs to know whether to start over.
        results: the answers so far, in step order.
    """

    def __init__(self, key: Hashable, steps: Sequence[Step]) -> None:
        self.key = key
        self._steps = list(steps)
        self.results: list[Any] = []

    @property
    def n_steps(self) -> int:
        return len(self._steps)

    @property
    def done(self) -> bool:
        return len(self.results) == len(self._steps)

    def next_compute(self) -> Callable[[Any], tuple["LayerChain", int, Any]] | None:
        """The worker function of the next step, or None when every step has answered.

        It returns ``(chain, step index, result)`` so the answer names what it answers.
        """
        if self.done:
            return None
        index = len(self.results)
        step = self._steps[index]
        previous = self.results[-1] if self.results else None

        def compute(_model: Any) -> tuple[LayerChain, int, Any]:
            # Only the trace's arrays are read: the model itself is not needed.
            return self, index, step(previous)

        return compute

    def take(self, answer: tuple["LayerChain", int, Any]) -> bool:
        """Keep the result of ``answer`` if it is this chain's next step; whether it was."""
        chain, index, result = answer
        if chain is not self or index != len(self.results):
            return False
        self.results.append(result)
        return True

    def run(self) -> list[Any]:
        """Every remaining step here and now, in order (for callers without a worker)."""
        while (compute := self.next_compute()) is not None:
            self.take(compute(None))
        return self.results
