"""The head detail marks the key columns its colour range leaves out, and its chooser changes the range."""

from __future__ import annotations

from explorer.core.state import ExplorerState
from explorer.core.views import head_view
from explorer.panels.head_detail import HeadDetail
from hand_traces import sink_trace


def test_the_excluded_column_is_outlined_and_the_chooser_reports_a_new_range(qtbot) -> None:
    panel = HeadDetail()
    qtbot.addWidget(panel)
    state = ExplorerState(trace=sink_trace())
    state.select(kind="encoder_self", layer=0, head=0)
    panel.show(head_view(state))
    assert len(panel.excluded_marks) == 1 and panel.excluded_marks[0].rect().x() == 0
    assert panel.excluded_marks[0].rect().height() == 4
    with qtbot.waitSignal(panel.colour_range_changed) as changed:
        panel.colour_range.setCurrentIndex(panel.colour_range.findData("all"))
    assert changed.args == ["all"]
    state.select(colour_range="all")
    panel.show(head_view(state))
    assert panel.excluded_marks == []
